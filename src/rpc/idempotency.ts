/**
 * Idempotency at the wire: the request's hash and the reply's bytes. The
 * hash is SHA-256 over the request's protobuf encoding with its key cleared,
 * so "same key, same request" means the same fields on the wire. The reply is
 * stored as protobuf, so a replay is byte-identical to the original reply.
 */
import { createHash } from "node:crypto";
import { clone, create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import type { CallContext } from "../domain/audit/types.js";
import type { Idempotency, Outcome } from "../domain/ledger/ledger.js";

export interface Keyed {
  idempotencyKey: string;
}

export function requestHash<D extends DescMessage>(schema: D, request: MessageShape<D> & Keyed): Uint8Array {
  const copy = clone(schema, request) as MessageShape<D> & Keyed;
  copy.idempotencyKey = "";
  return createHash("sha256").update(toBinary(schema, copy)).digest();
}

/**
 * Builds the domain's Idempotency for one call and the function that turns
 * its outcome into the reply (the stored one on a replay).
 */
/** Header (gRPC metadata) naming the calling service or principal, recorded in audit events. */
export const ACTOR_HEADER = "x-actor";

/** The caller, as the audit log records it: `x-actor` when sane (else "unknown") and the request id. */
export function callContextOf(ctx: HandlerContext): CallContext {
  const actor = ctx.requestHeader.get(ACTOR_HEADER);
  return {
    actor: actor && actor.length <= 128 && /^[\x21-\x7e]+$/.test(actor) ? actor : "unknown",
    requestId: ctx.requestHeader.get("x-request-id") ?? "",
  };
}

export function idempotentCall<Req extends DescMessage, Res extends DescMessage, R>(
  ctx: HandlerContext,
  scope: string,
  requestSchema: Req,
  request: MessageShape<Req> & Keyed,
  responseSchema: Res,
  toResponse: (result: R) => MessageInitShape<Res>,
): { idem: Idempotency<R>; reply: (outcome: Outcome<R>) => MessageShape<Res> } {
  let built: MessageShape<Res> | undefined;
  const idem: Idempotency<R> = {
    claim: { scope, key: request.idempotencyKey, requestHash: requestHash(requestSchema, request) },
    context: callContextOf(ctx),
    encode(result) {
      built = create(responseSchema, toResponse(result));
      return toBinary(responseSchema, built);
    },
  };
  const reply = (outcome: Outcome<R>): MessageShape<Res> => {
    if (outcome.replay) return fromBinary(responseSchema, outcome.replay);
    return built ?? create(responseSchema, toResponse(outcome.result!));
  };
  return { idem, reply };
}
