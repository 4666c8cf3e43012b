/**
 * The one table that maps domain errors to gRPC codes, and the one function
 * every handler's failures pass through on their way to a client.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { DomainError, ErrorReason } from "../domain/errors.js";
import { BadRequestSchema, BadRequest_FieldViolationSchema, ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";

/** google.rpc.ErrorInfo.domain of every error this service raises. */
export const ERROR_DOMAIN = "ledger-of-record.aevon";

/** The message a client sees for any failure we did not anticipate. */
export const INTERNAL_MESSAGE = "internal error";

export const CODE_OF_CATEGORY: Record<keyof typeof ErrorReason, Code> = {
  INVALID_ARGUMENT: Code.InvalidArgument,
  NOT_FOUND: Code.NotFound,
  ALREADY_EXISTS: Code.AlreadyExists,
  IDEMPOTENCY_KEY_REUSED: Code.AlreadyExists,
  FAILED_PRECONDITION: Code.FailedPrecondition,
  VERSION_MISMATCH: Code.Aborted,
  RETRIES_EXHAUSTED: Code.Aborted,
  AMOUNT_OVERFLOW: Code.OutOfRange,
  UNAVAILABLE: Code.Unavailable,
  // Retryable like UNAVAILABLE: the statement that timed out committed nothing,
  // and idempotency keys make a retry of a write safe.
  DATABASE_TIMEOUT: Code.Unavailable,
};

/**
 * Turns any thrown value into the ConnectError a client may see.
 * DomainError → its code, message and ErrorInfo (+ BadRequest when a field is
 * at fault). ConnectError → unchanged. Anything else → INTERNAL with a fixed
 * message; the detail goes to the log only.
 */
export function toConnectError(error: unknown, logger?: Logger, method?: string): ConnectError {
  if (error instanceof DomainError) {
    const details: ConstructorParameters<typeof ConnectError>[3] = [
      {
        desc: ErrorInfoSchema,
        value: create(ErrorInfoSchema, {
          reason: error.reason,
          domain: ERROR_DOMAIN,
          metadata: error.field === undefined ? error.metadata : { field: error.field, ...error.metadata },
        }),
      },
    ];
    if (error.field !== undefined && error.category === "INVALID_ARGUMENT") {
      details.push({
        desc: BadRequestSchema,
        value: create(BadRequestSchema, {
          fieldViolations: [create(BadRequest_FieldViolationSchema, { field: error.field, description: error.message })],
        }),
      });
    }
    return new ConnectError(error.message, CODE_OF_CATEGORY[error.category], undefined, details);
  }
  if (error instanceof ConnectError) return error;
  logger?.error({ err: error, method }, "unhandled error in handler");
  return new ConnectError(INTERNAL_MESSAGE, Code.Internal);
}
