/**
 * Typed domain errors and the one table of their reasons. The domain speaks
 * in reasons; each reason has a category, and the transport maps each
 * category to a gRPC code in exactly one place (src/rpc/errors.ts).
 *
 * A reason is a stable, machine-readable constant that clients in any
 * language switch on (sent as google.rpc.ErrorInfo.reason). Messages are for
 * humans: they name the offending field and never carry SQL or internals.
 */

/** What kind of failure a reason is; src/rpc/errors.ts maps each to one gRPC code. */
export type ErrorCategory =
  | "INVALID_ARGUMENT"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "FAILED_PRECONDITION"
  | "ABORTED"
  | "OUT_OF_RANGE"
  | "UNAVAILABLE"
  | "PERMISSION_DENIED"
  | "UNAUTHENTICATED"
  | "RESOURCE_EXHAUSTED";

/**
 * Whether an outcome with this reason is the final answer for an
 * idempotency key (`final`: stored under the key like a success, so every
 * retry gets it again) or says nothing about what happened (`unknown`:
 * nothing is stored; a retry with the same key may still succeed).
 */
export type Finality = "final" | "unknown";

interface ReasonSpec {
  category: ErrorCategory;
  finality: Finality;
}

const reason = (category: ErrorCategory, finality: Finality = "final"): ReasonSpec => ({ category, finality });

/** Every reason this service raises, with its category and finality. */
export const REASONS = {
  /** A request field is malformed or out of its documented range. */
  INVALID_ARGUMENT: reason("INVALID_ARGUMENT"),
  /** A referenced entity does not exist. */
  NOT_FOUND: reason("NOT_FOUND"),
  /** An entity with the same unique key already exists (handle, email, default wallet). */
  ALREADY_EXISTS: reason("ALREADY_EXISTS"),
  /** An idempotency key was reused with a different request; the key keeps its first outcome. */
  IDEMPOTENCY_KEY_REUSED: reason("ALREADY_EXISTS", "unknown"),
  /** The entity is not in a state that allows the operation. */
  FAILED_PRECONDITION: reason("FAILED_PRECONDITION"),
  /** The debit account cannot cover the amount within its balance policy. */
  INSUFFICIENT_FUNDS: reason("FAILED_PRECONDITION"),
  /** The account is frozen. */
  ACCOUNT_FROZEN: reason("FAILED_PRECONDITION"),
  /** The account is closed. */
  ACCOUNT_CLOSED: reason("FAILED_PRECONDITION"),
  /** The accounts, or the request's currency, disagree. */
  CURRENCY_MISMATCH: reason("FAILED_PRECONDITION"),
  /** The hold's expiry time has passed. */
  HOLD_EXPIRED: reason("FAILED_PRECONDITION"),
  /** The hold was already captured or voided. */
  HOLD_NOT_PENDING: reason("FAILED_PRECONDITION"),
  /** An account can only be closed at zero balance with no pending holds. */
  ACCOUNT_NOT_EMPTY: reason("FAILED_PRECONDITION"),
  /** The reversal would exceed what is left of the transfer, or reverses a reversal. */
  REVERSAL_EXCEEDS_TRANSFER: reason("FAILED_PRECONDITION"),
  /** The owner of the debit account is suspended. */
  USER_SUSPENDED: reason("FAILED_PRECONDITION"),
  /** The user (or the owner of an account) is deleted. */
  USER_DELETED: reason("FAILED_PRECONDITION"),
  /** An optimistic-concurrency version did not match. */
  VERSION_MISMATCH: reason("ABORTED"),
  /** Concurrency conflicts persisted after the bounded retries. */
  RETRIES_EXHAUSTED: reason("ABORTED", "unknown"),
  /** A value would leave the int64 range. */
  AMOUNT_OVERFLOW: reason("OUT_OF_RANGE"),
  /** The database (or another dependency) is not reachable right now. */
  UNAVAILABLE: reason("UNAVAILABLE", "unknown"),
  /** The database did not finish in time (statement, transaction or Accelerate query limit). */
  DATABASE_TIMEOUT: reason("UNAVAILABLE", "unknown"),
  /** The service has more work queued than it accepts; retry after the delay it gives. */
  OVERLOADED: reason("UNAVAILABLE", "unknown"),
  /** No usable credentials: no client certificate with an identity (mTLS), or no bearer token (JWT). */
  CREDENTIALS_MISSING: reason("UNAUTHENTICATED", "unknown"),
  /** The bearer token is malformed, wrongly signed, of a refused algorithm, or has no usable `sub`. */
  TOKEN_INVALID: reason("UNAUTHENTICATED", "unknown"),
  /** The bearer token has expired. */
  TOKEN_EXPIRED: reason("UNAUTHENTICATED", "unknown"),
  /** The bearer token is not valid yet. */
  TOKEN_NOT_YET_VALID: reason("UNAUTHENTICATED", "unknown"),
  /** The bearer token is not for this service (`aud`). */
  TOKEN_AUDIENCE: reason("UNAUTHENTICATED", "unknown"),
  /** The bearer token is not from the configured issuer (`iss`). */
  TOKEN_ISSUER: reason("UNAUTHENTICATED", "unknown"),
  /** A bearer token sent with a client certificate names another principal. */
  PRINCIPAL_MISMATCH: reason("UNAUTHENTICATED", "unknown"),
  /** The token signing keys (JWKS URL) cannot be fetched right now. */
  KEYS_UNAVAILABLE: reason("UNAVAILABLE", "unknown"),
  /** The authorization policy does not let this principal call this method. */
  PERMISSION_DENIED: reason("PERMISSION_DENIED", "unknown"),
  /** The authorization policy does not let this principal debit this kind of account (e.g. mint from ISSUANCE). */
  DEBIT_NOT_PERMITTED: reason("PERMISSION_DENIED"),
  /** The principal's rate limit for this kind of call is spent; retry after the delay given. */
  RATE_LIMITED: reason("RESOURCE_EXHAUSTED", "unknown"),
  /** Too many calls are in flight (the principal's share, or the service's); retry after the delay given. */
  TOO_MANY_CALLS: reason("RESOURCE_EXHAUSTED", "unknown"),
} as const satisfies Record<string, ReasonSpec>;

export type ErrorReasonName = keyof typeof REASONS;

/** The reasons by name, for `new DomainError(ErrorReason.NOT_FOUND, …)`. */
export const ErrorReason = Object.fromEntries(Object.keys(REASONS).map((k) => [k, k])) as { readonly [K in ErrorReasonName]: K };

/** One broken rule of a request: where, why, and which rule (sent as a google.rpc.BadRequest.FieldViolation). */
export interface FieldViolation {
  /** Field path as in the .proto, e.g. `legs[2].amount`; empty for the request as a whole. */
  field: string;
  /** What is wrong, for humans, e.g. "must be at most 256 characters". */
  description: string;
  /** The contract rule's stable id, e.g. `string.max_len`, or a CEL rule's own id. */
  ruleId: string;
}

/** Extra facts a DomainError carries to the transport. */
export interface DomainErrorOptions {
  /** When a retry may succeed (sent as google.rpc.RetryInfo). */
  retryAfterMs?: number;
  /** Every rule the request broke (INVALID_ARGUMENT from the contract's rules), sent as google.rpc.BadRequest. */
  violations?: FieldViolation[];
}

export class DomainError extends Error {
  override readonly name = "DomainError";
  constructor(
    /** Stable machine-readable reason: one of REASONS. */
    readonly reason: ErrorReasonName,
    message: string,
    /** The request field at fault, as a path (e.g. `legs[2].amount`), if any. */
    readonly field?: string,
    /** Extra machine-readable facts (e.g. `leg_index`). Values are strings, as in ErrorInfo. */
    readonly metadata: Record<string, string> = {},
    /** `retryAfterMs` (RetryInfo) and `violations` (BadRequest); see DomainErrorOptions. */
    readonly options: DomainErrorOptions = {},
  ) {
    super(message);
  }

  /** The reason's category (how the transport reports it). */
  get category(): ErrorCategory {
    return REASONS[this.reason].category;
  }

  /** Whether this outcome is final for an idempotency key (see Finality). */
  get finality(): Finality {
    return REASONS[this.reason].finality;
  }
}

/**
 * Shorthand for the most common error: a field that is not acceptable.
 * `ruleId` names the check (BadRequest's `reason`) when it has a stable id.
 */
export function invalidArgument(field: string, message: string, ruleId?: string): DomainError {
  const text = `${field}: ${message}`;
  const options = ruleId === undefined ? {} : { violations: [{ field, description: text, ruleId }] };
  return new DomainError(ErrorReason.INVALID_ARGUMENT, text, field, legMetadataOf(field), options);
}

/** The facts a failure carries beside its field path: which batch leg (`leg_index`), when one is at fault. */
export function legMetadataOf(field: string): Record<string, string> {
  const leg = /^legs\[(\d+)\]/.exec(field);
  return leg ? { leg_index: leg[1]! } : {};
}

/** Shorthand: a referenced entity is missing. */
export function notFound(field: string, what: string): DomainError {
  return new DomainError(ErrorReason.NOT_FOUND, `${what} not found`, field);
}

/** Shorthand: the entity's state forbids the operation (a FAILED_PRECONDITION reason). */
export function refused(reason: ErrorReasonName, message: string, field?: string, metadata: Record<string, string> = {}): DomainError {
  return new DomainError(reason, message, field, metadata);
}
