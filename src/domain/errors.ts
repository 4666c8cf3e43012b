/**
 * Typed domain errors. The domain speaks in reasons; the transport maps each
 * reason to a gRPC code in exactly one table (src/rpc/errors.ts).
 *
 * A reason is a stable, machine-readable constant that clients in any
 * language switch on (sent as google.rpc.ErrorInfo.reason). Messages are for
 * humans: they name the offending field and never carry SQL or internals.
 */
export const ErrorReason = {
  /** A request field is malformed or out of its documented range. */
  INVALID_ARGUMENT: "INVALID_ARGUMENT",
  /** A referenced entity does not exist. */
  NOT_FOUND: "NOT_FOUND",
  /** An entity with the same unique key already exists. */
  ALREADY_EXISTS: "ALREADY_EXISTS",
  /** An idempotency key was reused with a different request. */
  IDEMPOTENCY_KEY_REUSED: "IDEMPOTENCY_KEY_REUSED",
  /** The entity is not in a state that allows the operation. */
  FAILED_PRECONDITION: "FAILED_PRECONDITION",
  /** Concurrency conflicts persisted after the bounded retries. */
  RETRIES_EXHAUSTED: "RETRIES_EXHAUSTED",
  /** An optimistic-concurrency version did not match. */
  VERSION_MISMATCH: "VERSION_MISMATCH",
  /** A value would leave the int64 range. */
  AMOUNT_OVERFLOW: "AMOUNT_OVERFLOW",
  /** The database (or another dependency) is not reachable right now. */
  UNAVAILABLE: "UNAVAILABLE",
  /** The database did not finish in time (statement, transaction or Accelerate query limit). Retryable. */
  DATABASE_TIMEOUT: "DATABASE_TIMEOUT",
} as const;

export type ErrorReasonName = (typeof ErrorReason)[keyof typeof ErrorReason] | (string & {});

export class DomainError extends Error {
  override readonly name = "DomainError";
  constructor(
    /** Stable machine-readable reason, UPPER_SNAKE_CASE. */
    readonly reason: ErrorReasonName,
    message: string,
    /** The request field at fault, as a path (e.g. `legs[2].amount`), if any. */
    readonly field?: string,
    /** Extra machine-readable facts (e.g. `leg_index`). Values are strings, as in ErrorInfo. */
    readonly metadata: Record<string, string> = {},
    /**
     * The gRPC-facing category when `reason` is a specific one (e.g.
     * INSUFFICIENT_FUNDS is a FAILED_PRECONDITION). Defaults to `reason`.
     */
    readonly category: keyof typeof ErrorReason = reason in ErrorReason ? (reason as keyof typeof ErrorReason) : "FAILED_PRECONDITION",
  ) {
    super(message);
  }
}

/** Shorthand for the most common error: a field that is not acceptable. */
export function invalidArgument(field: string, message: string): DomainError {
  return new DomainError(ErrorReason.INVALID_ARGUMENT, `${field}: ${message}`, field);
}

/** Shorthand: a referenced entity is missing. */
export function notFound(field: string, what: string): DomainError {
  return new DomainError(ErrorReason.NOT_FOUND, `${what} not found`, field);
}
