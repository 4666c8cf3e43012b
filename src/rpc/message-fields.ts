/**
 * How protobuf-es lays a message out, for the code that walks requests
 * field by field (request-check.ts checks them, canonical.ts rewrites a copy
 * into its canonical form): which fields are set, and which well-known
 * types it holds as plain JSON values.
 */
import type { DescField, DescMessage } from "@bufbuild/protobuf";

/** Well-known types that protobuf-es represents as plain JSON values. */
export const JSON_TYPES = new Set(["google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"]);

/**
 * Calls `visit` for each field of `message`: every plain field, and the
 * chosen field of each oneof (none when unset). `replace` stores a new value
 * where the field's value was.
 */
export function forEachField(
  desc: DescMessage,
  message: Record<string, unknown>,
  visit: (field: DescField, value: unknown, replace: (value: unknown) => void) => void,
): void {
  for (const member of desc.members) {
    if (member.kind === "oneof") {
      const selected = message[member.localName] as { case: string | undefined; value?: unknown };
      const field = member.fields.find((f) => f.localName === selected.case);
      if (field) visit(field, selected.value, (value) => (selected.value = value));
    } else {
      visit(member, message[member.localName], (value) => (message[member.localName] = value));
    }
  }
}
