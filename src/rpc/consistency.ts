/** aevon.type.v1.ReadConsistency on the wire → the domain's ReadConsistency. */
import type { ReadConsistency } from "../domain/consistency.js";
import { invalidArgument } from "../domain/errors.js";
import { ReadConsistency as WireConsistency } from "../gen/aevon/type/v1/read_consistency_pb.js";

export function consistencyFromProto(value: WireConsistency): ReadConsistency {
  switch (value) {
    case WireConsistency.UNSPECIFIED:
    case WireConsistency.STRONG:
      return "STRONG";
    case WireConsistency.EVENTUAL:
      return "EVENTUAL";
    default:
      // An enum value from a newer contract: refuse it rather than guess.
      throw invalidArgument("consistency", `unknown value ${value as number}; use READ_CONSISTENCY_STRONG or READ_CONSISTENCY_EVENTUAL`);
  }
}
