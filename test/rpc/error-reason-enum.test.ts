/**
 * proto/aevon/type/v1/error_reason.proto declares exactly the reasons the
 * service sends: a reason added to the domain without the enum (or the other
 * way round) fails here, before a client meets an undeclared reason.
 */
import { describe, expect, it } from "vitest";
import { REASONS } from "../../src/domain/errors.js";
import { ErrorReasonSchema } from "../../src/gen/aevon/type/v1/error_reason_pb.js";

describe("aevon.type.v1.ErrorReason", () => {
  it("has one value per ErrorInfo.reason the service sends, named ERROR_REASON_ + reason", () => {
    const sent = new Set(Object.keys(REASONS));
    const declared = ErrorReasonSchema.values.map((v) => v.name);
    expect(declared[0]).toBe("ERROR_REASON_UNSPECIFIED");
    expect(ErrorReasonSchema.values[0]?.number).toBe(0);
    expect(declared.slice(1).sort()).toEqual([...sent].map((reason) => `ERROR_REASON_${reason}`).sort());
  });
});
