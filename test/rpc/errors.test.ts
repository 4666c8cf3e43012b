/** The one table from domain errors to gRPC codes, and what a client may (not) see. */
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { DomainError, type ErrorReasonName } from "../../src/domain/errors.js";
import { BadRequestSchema, ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { toConnectError } from "../../src/rpc/errors.js";

describe("error mapping", () => {
  it.each([
    ["INVALID_ARGUMENT", Code.InvalidArgument],
    ["NOT_FOUND", Code.NotFound],
    ["ALREADY_EXISTS", Code.AlreadyExists],
    ["IDEMPOTENCY_KEY_REUSED", Code.AlreadyExists],
    ["FAILED_PRECONDITION", Code.FailedPrecondition],
    ["RETRIES_EXHAUSTED", Code.Aborted],
    ["VERSION_MISMATCH", Code.Aborted],
    ["AMOUNT_OVERFLOW", Code.OutOfRange],
    ["UNAVAILABLE", Code.Unavailable],
  ])("%s → %s", (reason, code) => {
    const error = toConnectError(new DomainError(reason as ErrorReasonName, "message", "field"));
    expect(error.code).toBe(code);
    expect(error.findDetails(ErrorInfoSchema)[0]).toMatchObject({ reason, domain: "ledger-of-record.aevon", metadata: { field: "field" } });
  });

  it("maps specific reasons by their category and keeps the reason for clients", () => {
    const error = toConnectError(new DomainError("INSUFFICIENT_FUNDS", "no money", "amount", { leg_index: "2" }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.findDetails(ErrorInfoSchema)[0]?.metadata).toEqual({ field: "amount", leg_index: "2" });
    expect(error.findDetails(BadRequestSchema)).toEqual([]);
  });

  it("adds a BadRequest field violation to INVALID_ARGUMENT", () => {
    const error = toConnectError(new DomainError("INVALID_ARGUMENT", "amount: must be positive", "amount"));
    expect(error.findDetails(BadRequestSchema)[0]?.fieldViolations[0]).toMatchObject({ field: "amount" });
  });

  it("hides anything unexpected behind INTERNAL with a fixed message", () => {
    const error = toConnectError(new Error('duplicate key value violates unique constraint "x" at SELECT 1'));
    expect(error).toBeInstanceOf(ConnectError);
    expect(error.code).toBe(Code.Internal);
    expect(error.rawMessage).toBe("internal error");
    expect(error.details).toEqual([]);
  });
});
