/**
 * The one table that maps domain errors to gRPC codes, and the one function
 * every handler's failures pass through on their way to a client.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { DomainError, type ErrorCategory } from "../domain/errors.js";
import { clipUtf8, DETAIL_BYTES_MAX, MESSAGE_BYTES_MAX } from "./clip.js";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { BadRequestSchema, BadRequest_FieldViolationSchema, ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";

/** google.rpc.ErrorInfo.domain of every error this service raises. */
export const ERROR_DOMAIN = "ledger-of-record.aevon";

/** The message a client sees for any failure we did not anticipate. */
export const INTERNAL_MESSAGE = "internal error";

/** The one table from a reason's category to its gRPC code. */
export const CODE_OF_CATEGORY: Record<ErrorCategory, Code> = {
  INVALID_ARGUMENT: Code.InvalidArgument,
  NOT_FOUND: Code.NotFound,
  ALREADY_EXISTS: Code.AlreadyExists,
  FAILED_PRECONDITION: Code.FailedPrecondition,
  ABORTED: Code.Aborted,
  OUT_OF_RANGE: Code.OutOfRange,
  // Retryable: nothing was decided. Idempotency keys make a retry of a write safe.
  UNAVAILABLE: Code.Unavailable,
  PERMISSION_DENIED: Code.PermissionDenied,
  UNAUTHENTICATED: Code.Unauthenticated,
  RESOURCE_EXHAUSTED: Code.ResourceExhausted,
};

/**
 * Turns any thrown value into the ConnectError a client may see.
 * DomainError → its code, message and ErrorInfo (+ BadRequest when a field is
 * at fault), every text cut to clip.ts's sizes so the trailers stay
 * deliverable. ConnectError → unchanged. Anything else → INTERNAL with a fixed
 * message; the detail goes to the log only.
 */
export function toConnectError(error: unknown, logger?: Logger, method?: string): ConnectError {
  if (error instanceof DomainError) {
    const field = error.field === undefined ? undefined : clipUtf8(error.field, DETAIL_BYTES_MAX);
    const metadata = Object.fromEntries(Object.entries(error.metadata).map(([k, v]) => [k, clipUtf8(v, DETAIL_BYTES_MAX)]));
    const details: ConstructorParameters<typeof ConnectError>[3] = [
      {
        desc: ErrorInfoSchema,
        value: create(ErrorInfoSchema, {
          reason: error.reason,
          domain: ERROR_DOMAIN,
          metadata: field === undefined ? metadata : { field, ...metadata },
        }),
      },
    ];
    if (error.category === "INVALID_ARGUMENT" && (error.options.violations !== undefined || field !== undefined)) {
      // The contract's rules list every violation with its rule id; a domain check names its one field.
      const violations = error.options.violations ?? [{ field: field!, description: error.message, ruleId: "" }];
      details.push({
        desc: BadRequestSchema,
        value: create(BadRequestSchema, {
          fieldViolations: violations.map((v) =>
            create(BadRequest_FieldViolationSchema, { field: clipUtf8(v.field, DETAIL_BYTES_MAX), description: clipUtf8(v.description, DETAIL_BYTES_MAX), reason: v.ruleId }),
          ),
        }),
      });
    }
    const retryAfterMs = error.options.retryAfterMs;
    if (retryAfterMs !== undefined) {
      details.push({ desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay: durationFromMs(retryAfterMs) }) });
    }
    return new ConnectError(clipUtf8(error.message, MESSAGE_BYTES_MAX), CODE_OF_CATEGORY[error.category], undefined, details);
  }
  if (error instanceof ConnectError) return error;
  logger?.error({ err: error, method }, "unhandled error in handler");
  return new ConnectError(INTERNAL_MESSAGE, Code.Internal);
}
