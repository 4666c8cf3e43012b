/** aevon.type.v1.ReadConsistency on the wire → the domain's ReadConsistency. */
import type { ReadConsistency } from "../domain/consistency.js";
import { ReadConsistency as WireConsistency } from "../gen/aevon/type/v1/read_consistency_pb.js";
import { unreachable } from "./validation.js";

export function consistencyFromProto(value: WireConsistency): ReadConsistency {
  switch (value) {
    case WireConsistency.UNSPECIFIED:
    case WireConsistency.STRONG:
      return "STRONG";
    case WireConsistency.EVENTUAL:
      return "EVENTUAL";
    default:
      // An enum value from a newer contract: `enum.defined_only` refuses it rather than guess.
      return unreachable("consistency: enum.defined_only");
  }
}
