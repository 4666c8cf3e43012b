/**
 * A canonical form of a request, for its idempotency hash: two requests that
 * mean the same thing hash the same, whatever order a client's library wrote
 * them in. Protobuf fixes no order for map entries (Python's protobuf, for
 * one, writes a google.protobuf.Struct's keys in hash-table order), and a
 * FieldMask's paths are a set. So, on a copy of the request:
 * - map entries and JSON object keys (Struct, Value) are put in key order;
 * - -0 in a Struct is 0 (JSON, and the stored payload, have one zero);
 * - an empty Struct field is an absent one (both store no payload keys);
 * - FieldMask paths are sorted, each once.
 * Unknown fields are left out by the caller (`writeUnknownFields: false`):
 * the service ignores them, so they do not make another request.
 */
import type { DescField, DescMessage } from "@bufbuild/protobuf";
import { forEachField, JSON_TYPES } from "./message-fields.js";

const FIELD_MASK = "google.protobuf.FieldMask";
const STRUCT = "google.protobuf.Struct";

/** A plain object with `entries` in key order; `__proto__` stays an own key. */
function sortedObject(entries: [string, unknown][]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, writable: true, enumerable: true, configurable: true });
  return out;
}

function canonicalJson(value: unknown): unknown {
  if (Object.is(value, -0)) return 0;
  if (Array.isArray(value)) return value.map(canonicalJson);
  if (value === null || typeof value !== "object") return value;
  return sortedObject(Object.entries(value).map(([k, v]) => [k, canonicalJson(v)]));
}

function canonicalSingle(kind: "scalar" | "enum" | "message", message: DescMessage | undefined, value: unknown): unknown {
  if (kind !== "message" || !message || value === undefined || value === null) return value;
  if (message.typeName === STRUCT && Object.keys(value as object).length === 0) return undefined;
  if (JSON_TYPES.has(message.typeName)) return canonicalJson(value);
  if (message.typeName === FIELD_MASK) {
    const mask = value as { paths: string[] };
    mask.paths = [...new Set(mask.paths)].sort();
    return mask;
  }
  canonicalizeInPlace(message, value as Record<string, unknown>);
  return value;
}

function canonicalField(field: DescField, value: unknown): unknown {
  switch (field.fieldKind) {
    case "list":
      return (value as unknown[]).map((v) => canonicalSingle(field.listKind, field.message, v));
    case "map":
      return sortedObject(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, canonicalSingle(field.mapKind, field.message, v)]));
    default:
      return canonicalSingle(field.fieldKind, field.message, value);
  }
}

/** Rewrites `message` (a copy the caller owns) into its canonical form. */
export function canonicalizeInPlace(desc: DescMessage, message: Record<string, unknown>): void {
  forEachField(desc, message, (field, value, replace) => replace(canonicalField(field, value)));
}
