/**
 * Idempotency at the wire: the request's hash and the reply's bytes. The
 * hash is SHA-256 over the request's canonical protobuf encoding (canonical.ts:
 * map entries and Struct keys in key order, FieldMask paths as a set, no
 * unknown fields) with its key cleared, so "same key, same request" means the
 * same fields and values, in whatever order a client wrote them. The reply is
 * stored as protobuf, so a replay is byte-identical to the original reply.
 */
import { createHash } from "node:crypto";
import { clone, create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import type { Idempotency, Outcome } from "../domain/idempotency.js";
import { canonicalizeInPlace } from "./canonical.js";
import { callContextOf, observerKey } from "./call-context.js";
import { decodeRefusal, encodeRefusal } from "./refusals.js";

export interface Keyed {
  idempotencyKey: string;
}

/**
 * SHA-256 of the caller's principal and the request's bytes without its key:
 * the same key from another principal is another request (it gets
 * IDEMPOTENCY_KEY_REUSED, never the first caller's reply).
 */
export function requestHash<D extends DescMessage>(schema: D, request: MessageShape<D> & Keyed, principal: string): Uint8Array {
  const copy = clone(schema, request) as MessageShape<D> & Keyed;
  copy.idempotencyKey = "";
  canonicalizeInPlace(schema, copy as unknown as Record<string, unknown>);
  const bytes = toBinary(schema, copy, { writeUnknownFields: false });
  return createHash("sha256").update(principal).update("\u0000").update(bytes).digest();
}

/**
 * Builds the domain's Idempotency for one call and the function that turns
 * its outcome into the reply (the stored one on a replay).
 */
export function idempotentCall<Req extends DescMessage, Res extends DescMessage, R>(
  ctx: HandlerContext,
  scope: string,
  requestSchema: Req,
  request: MessageShape<Req> & Keyed,
  responseSchema: Res,
  toResponse: (result: R) => MessageInitShape<Res>,
): { idem: Idempotency<R>; reply: (outcome: Outcome<R>) => MessageShape<Res> } {
  let built: MessageShape<Res> | undefined;
  const context = callContextOf(ctx);
  const idem: Idempotency<R> = {
    claim: { scope, key: request.idempotencyKey, requestHash: requestHash(requestSchema, request, context.actor) },
    context,
    encode(result) {
      built = create(responseSchema, toResponse(result));
      return toBinary(responseSchema, built);
    },
    refuse: encodeRefusal,
  };
  const reply = (outcome: Outcome<R>): MessageShape<Res> => {
    if (outcome.stored) ctx.values.get(observerKey).idempotencyReplayed(`/${ctx.service.typeName}/${ctx.method.name}`, outcome.refusal ? "refusal" : "reply");
    // A refusal, fresh or stored, is answered from its stored bytes: every attempt sees the same error.
    if (outcome.refusal) throw decodeRefusal(outcome.refusal);
    if (outcome.replay) return fromBinary(responseSchema, outcome.replay);
    return built ?? create(responseSchema, toResponse(outcome.result!));
  };
  return { idem, reply };
}
