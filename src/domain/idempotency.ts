/**
 * Idempotency keys, as every mutating use case sees them: a client's key
 * scoped to one RPC, the hash of its request, and the key's final outcome
 * stored under it. The domain never sees the wire format; `encode` and
 * `refuse` come from the transport.
 *
 * The first decided outcome of a key is final: a reply, or a refusal whose
 * reason is `final` (errors.ts). Both are stored with the change (or with
 * nothing, for a refusal) in one transaction, so every later attempt with
 * the key, on any replica, gets the same answer instead of executing.
 * Outcomes that say nothing about what happened (unavailable, timed out,
 * cancelled) store nothing: only those may be retried for a different result.
 */
import type { CallContext } from "./call.js";
import { invalidArgument, type DomainError } from "./errors.js";

/** A client's idempotency key, scoped to one RPC, with a hash of its request. */
export interface IdempotencyClaim {
  /** The RPC, e.g. "ledger.Transfer". */
  scope: string;
  key: string;
  /** SHA-256 of the request (without its key), so a reused key with another request is caught. */
  requestHash: Uint8Array;
}

/**
 * A key's stored outcome: the reply of a committed change or a refusal, as
 * the transport encoded them, or (when the database decided it: the Transfer
 * path) as data, which the transport encodes the same way every time.
 */
export type StoredOutcome =
  | { kind: "replay"; response: Uint8Array }
  | { kind: "refused"; refusal: Uint8Array }
  | { kind: "result"; result: unknown }
  | { kind: "error"; error: DomainError };

export type ClaimOutcome =
  /** First time: go ahead; `now` is the transaction's timestamp. */
  | { kind: "new"; now: Date }
  /** Decided before, for the same request: here is the outcome. */
  | StoredOutcome;

/** What is stored under a claimed key when its transaction commits. */
export interface Completion {
  claim: IdempotencyClaim;
  /** Exactly one of `response` and `refusal`. */
  response?: Uint8Array;
  refusal?: Uint8Array;
  /** The user whose personal data `response` carries (identity RPCs), so that erasure can scrub it. */
  userId?: string;
}

/** How a mutation's outcome is stored under its key, and what comes back. */
export interface Idempotency<R> {
  claim: IdempotencyClaim;
  /** Encodes the reply for storage (the transport's wire format: a replay is byte-identical). */
  encode(result: R): Uint8Array;
  /** Encodes a final refusal for storage (the transport's error format: a replay is identical). */
  refuse(error: DomainError): Uint8Array;
  /** Who is calling: recorded in the audit events the change writes; its signal says when the caller is gone. */
  context: CallContext;
}

/** A fresh result, the stored reply of an earlier identical request, or a (fresh or stored) final refusal. */
export type Outcome<R> = (
  | { result: R; replay?: undefined; refusal?: undefined }
  | { replay: Uint8Array; result?: undefined; refusal?: undefined }
  | { refusal: Uint8Array; result?: undefined; replay?: undefined }
) & {
  /** Answered from an earlier request's stored outcome (an idempotent replay), not decided now. */
  stored?: true;
};

/** The outcome a stored one stands for (data is encoded as the first answer was), marked `stored` (a replay, for metrics). */
export function outcomeOf<R>(stored: StoredOutcome, idem: Idempotency<R>): Outcome<R> {
  switch (stored.kind) {
    case "replay":
      return { replay: stored.response, stored: true };
    case "refused":
      return { refusal: stored.refusal, stored: true };
    case "result":
      return { replay: idem.encode(stored.result as R), stored: true };
    case "error":
      return { refusal: idem.refuse(stored.error), stored: true };
  }
}

/** Idempotency keys: 1 to 128 printable ASCII characters; '#' is reserved for batch legs. */
const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x22\x24-\x7e]{1,128}$/;

export function checkIdempotencyKey(key: string): string {
  if (!IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw invalidArgument("idempotency_key", "is required: 1 to 128 printable ASCII characters, without '#'");
  }
  return key;
}
