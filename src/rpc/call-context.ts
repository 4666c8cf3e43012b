/**
 * The caller, as the use cases see it, read from the call's metadata in one
 * place. Metadata a caller sends is checked like any field: a value outside
 * its documented shape is refused (INVALID_ARGUMENT naming the header),
 * never silently replaced or dropped.
 */
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { CallContext, DebitSource } from "../domain/call.js";
import { invalidArgument } from "../domain/errors.js";
import { NO_OBSERVER, type Observer } from "../domain/observer.js";

/**
 * Metadata naming whom the caller acts for (e.g. the end user behind a
 * service), recorded beside the actor as `on_behalf_of`. The actor itself is
 * always the caller's authenticated principal, never taken from metadata.
 */
export const ACTOR_HEADER = "x-actor";

/** The caller's authenticated principal, set by the transport's admission before the handler runs. */
export const principalKey = createContextKey<string>("anonymous", { description: "authenticated principal" });
/** Whether the caller may debit an account of a kind (the policy's debit grants); undefined: no policy. */
export const mayDebitKey = createContextKey<((source: DebitSource) => boolean) | undefined>(undefined, { description: "debit grants" });
/** Where the RPC layer reports what metrics count (idempotent replays), set by the transport. Default: nobody. */
export const observerKey = createContextKey<Observer>(NO_OBSERVER, { description: "metrics observer" });
/** Metadata carrying the caller's request id (echoed, logged, recorded in audit events). */
export const REQUEST_ID_HEADER = "x-request-id";

/** Longest `x-actor`: room for a SPIFFE ID, a service account or a user id. */
export const MAX_ACTOR_LENGTH = 256;
/** Longest `x-request-id`. */
export const MAX_REQUEST_ID_LENGTH = 128;

/** Printable ASCII without spaces: what an id or a principal name is made of. */
const TOKEN = /^[\x21-\x7e]+$/;

/** True for a request id the service keeps as given (else it logs a fresh one). */
export function isValidRequestId(value: string): boolean {
  return value.length > 0 && value.length <= MAX_REQUEST_ID_LENGTH && TOKEN.test(value);
}

function checkHeader(name: string, value: string | null, max: number): string | null {
  if (value === null) return null;
  if (value.length === 0 || value.length > max || !TOKEN.test(value)) {
    throw invalidArgument(name, `must be 1 to ${max} printable ASCII characters without spaces`);
  }
  return value;
}

/** Checks the caller's metadata; throws INVALID_ARGUMENT naming a malformed header. */
export function checkCallMetadata(ctx: HandlerContext): void {
  checkHeader(ACTOR_HEADER, ctx.requestHeader.get(ACTOR_HEADER), MAX_ACTOR_LENGTH);
  checkHeader(REQUEST_ID_HEADER, ctx.requestHeader.get(REQUEST_ID_HEADER), MAX_REQUEST_ID_LENGTH);
}

/** The caller of this call: its principal (the actor), whom it acts for, its request id, signal and debit grants. */
export function callContextOf(ctx: HandlerContext): CallContext {
  return {
    actor: ctx.values.get(principalKey),
    onBehalfOf: checkHeader(ACTOR_HEADER, ctx.requestHeader.get(ACTOR_HEADER), MAX_ACTOR_LENGTH),
    requestId: checkHeader(REQUEST_ID_HEADER, ctx.requestHeader.get(REQUEST_ID_HEADER), MAX_REQUEST_ID_LENGTH) ?? "",
    signal: ctx.signal,
    mayDebit: ctx.values.get(mayDebitKey),
  };
}
