/**
 * The contract's static rules, enforced in one place: every request, of
 * every RPC, on every port, is checked against the buf.validate
 * (protovalidate) rules written on its fields in proto/ before any handler
 * runs. A request that breaks rules is refused as INVALID_ARGUMENT naming the
 * first broken rule's field in its message, with one
 * google.rpc.BadRequest.FieldViolation per broken rule: the field path as in
 * the .proto (`legs[2].amount`), the rule's message, and the rule id in
 * `reason` (`string.max_len`, `int64.gt`, or a CEL rule's own id).
 *
 * A message-level CEL rule judges several fields at once; its id starts with
 * the name of the field it blames (`credit_account_id.distinct`), so the
 * violation names that field (`legs[1].credit_account_id`) rather than the
 * message that holds it.
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { pathToString, type Path } from "@bufbuild/protobuf/reflect";
import { createValidator, type Violation } from "@bufbuild/protovalidate";
import { DomainError, ErrorReason, legMetadataOf, type FieldViolation } from "../domain/errors.js";
import { clipUtf8, DETAIL_BYTES_MAX } from "./clip.js";
import { regexMatch } from "./regex-match.js";

/**
 * One validator for the process: it compiles each message type's rules on
 * first use and keeps the plan, so a call pays only for evaluating them.
 * All violations are collected (no fail-fast), so a client can fix them in
 * one round trip. Patterns go through regexMatch (the platform RegExp for
 * the contract's simple patterns, RE2 for the rest).
 */
const validator = createValidator({ regexMatch });

/**
 * Most violations one refusal lists: 100 (a full batch's worth), and no more
 * than VIOLATIONS_BYTES_MAX of them. The list travels in the
 * `grpc-status-details-bin` trailer, base64 (4/3 larger), and clients cap a
 * trailer block: grpcio (Python, C++, Ruby…) at 8 KiB by default, answering
 * RESOURCE_EXHAUSTED instead of our error when it is larger. So a request
 * breaking many rules (a batch of bad legs) must not make the refusal itself
 * undeliverable. The message says how many more there were.
 */
export const MAX_VIOLATIONS = 100;

/**
 * Most bytes the listed violations take (their field paths, descriptions and
 * rule ids, plus 8 bytes of framing each): 3 KiB. With the message twice
 * (grpc-message and google.rpc.Status, 512 bytes each at most) and ErrorInfo
 * (clip.ts), the trailers stay under grpcio's 8 KiB once encoded. The first
 * violation is always listed.
 */
export const VIOLATIONS_BYTES_MAX = 3072;

/** The violation's bytes in google.rpc.BadRequest, framing included (an upper estimate). */
function violationBytes(v: FieldViolation): number {
  return Buffer.byteLength(v.field) + Buffer.byteLength(v.description) + Buffer.byteLength(v.ruleId) + 8;
}

/** The message a path ends on (the request itself for an empty path). */
function messageAt(root: DescMessage, path: Path): DescMessage | undefined {
  const last = path[path.length - 1];
  if (last === undefined) return root;
  if (last.kind === "list_sub" || last.kind === "map_sub") {
    const holder = path[path.length - 2];
    return holder?.kind === "field" ? holder.message : undefined;
  }
  return last.kind === "field" ? last.message : undefined;
}

/** The violation's field path; a message-level rule blames the field its id starts with. */
function fieldOf(root: DescMessage, v: Violation): string {
  const path = pathToString(v.field);
  // Only a message-level rule has no rule path (field rules point into FieldRules).
  if (v.rule.length > 0) return path;
  const blamed = messageAt(root, v.field)?.fields.find((f) => f.name === v.ruleId.split(".")[0]);
  if (!blamed) return path;
  return path === "" ? blamed.name : `${path}.${blamed.name}`;
}

/**
 * For a value the contract's rules have already refused (an undefined enum
 * value, an unset required oneof): reaching it means the rule is missing
 * from proto/, a defect answered INTERNAL, not a client error.
 */
export function unreachable(rule: string): never {
  throw new Error(`a request passed validation but breaks ${rule}: the rule is missing from the contract`);
}

/**
 * Throws INVALID_ARGUMENT listing every rule `request` breaks; returns when
 * it breaks none. A rule that cannot be evaluated is a defect of the
 * contract, not of the request: it is thrown as is (INTERNAL to the client).
 */
export function validateRequest<D extends DescMessage>(schema: D, request: MessageShape<D>): void {
  const result = validator.validate(schema, request);
  if (result.kind === "valid") return;
  if (result.kind === "error") throw result.error;
  const all = result.violations;
  const violations: FieldViolation[] = [];
  let bytes = 0;
  for (const v of all) {
    const listed: FieldViolation = { field: clipUtf8(fieldOf(schema, v), DETAIL_BYTES_MAX), description: clipUtf8(v.message, DETAIL_BYTES_MAX), ruleId: v.ruleId };
    bytes += violationBytes(listed);
    if (violations.length === MAX_VIOLATIONS || (violations.length > 0 && bytes > VIOLATIONS_BYTES_MAX)) break;
    violations.push(listed);
  }
  const first = violations[0]!;
  const listed = all.length > violations.length ? `the first ${violations.length} are in google.rpc.BadRequest` : "see google.rpc.BadRequest";
  const more = all.length > 1 ? ` (and ${all.length - 1} more: ${listed})` : "";
  const field = first.field === "" ? undefined : first.field;
  throw new DomainError(ErrorReason.INVALID_ARGUMENT, `${first.field || "request"}: ${first.description}${more}`, field, legMetadataOf(first.field), {
    violations,
  });
}
