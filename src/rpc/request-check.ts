/**
 * Checks every request, of every RPC, before any handler sees it, for what
 * no field may hold: text PostgreSQL cannot store (U+0000) or that is not
 * Unicode (a lone surrogate, which JSON can carry), numbers JSON cannot hold
 * in a google.protobuf.Struct (NaN, ±Infinity, which binary can carry), a
 * key named `__proto__` (in a map or a Struct), objects and lists nested
 * more than JSON_DEPTH_MAX deep, and timestamps outside the range google.protobuf.Timestamp defines
 * (0001-01-01 to 9999-12-31, nanos 0..999,999,999). The first offence is
 * refused as INVALID_ARGUMENT naming its field path (`legs[2].memo`,
 * `payload["note"]`). Field-specific limits (lengths, patterns, ranges) stay
 * with each field's rules.
 */
import type { DescField, DescMessage } from "@bufbuild/protobuf";
import { invalidArgument } from "../domain/errors.js";
import { forEachField, JSON_TYPES } from "./message-fields.js";

/** Timestamp seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z. */
const MIN_SECONDS = -62_135_596_800n;
const MAX_SECONDS = 253_402_300_799n;
const MAX_NANOS = 999_999_999;

/** U+0000, or a surrogate that is not half of a pair. */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A key no map or Struct may hold: JavaScript objects treat it as their
 * prototype, so code that copies the object (here or in a library) drops it
 * or fails. Refused, so that no key is ever lost in silence.
 */
const RESERVED_KEY = "__proto__";

function checkString(path: string, value: string): void {
  if (!UNSTORABLE.test(value)) return;
  if (value.includes("\u0000")) throw invalidArgument(path, "must not contain U+0000 (NUL)", "aevon.string.no_nul");
  throw invalidArgument(path, "must be valid Unicode (it holds a lone surrogate)", "aevon.string.valid_unicode");
}

function checkKey(path: string, key: string): void {
  checkString(`${path} (a key)`, key);
  if (key === RESERVED_KEY) throw invalidArgument(`${path}[${JSON.stringify(key)}]`, `must not be a key: "${RESERVED_KEY}" is reserved`, "aevon.key.reserved");
}

/**
 * Deepest nesting of objects and lists in a Struct or Value: 30. Each level
 * is two or three protobuf messages deep on the wire, and readers refuse
 * messages nested beyond 100 (protobuf's default in Python, C++ and Java):
 * a payload stored deeper could be written once and never read back by
 * them, inside a ListEventsResponse included.
 */
export const JSON_DEPTH_MAX = 30;

function checkJson(path: string, value: unknown, depth = 1): void {
  if (typeof value === "string") return checkString(path, value);
  // A google.protobuf.Value can carry NaN or ±Infinity in binary; JSON (and jsonb) cannot, so it would become null.
  if (typeof value === "number" && !Number.isFinite(value)) throw invalidArgument(path, "must be a finite number (JSON has no NaN or Infinity)", "aevon.number.finite");
  if (value === null || typeof value !== "object") return;
  if (depth > JSON_DEPTH_MAX) {
    throw invalidArgument(path, `must not nest objects and lists more than ${JSON_DEPTH_MAX} deep (protobuf readers refuse deeper messages)`, "aevon.struct.max_depth");
  }
  if (Array.isArray(value)) return value.forEach((v, i) => checkJson(`${path}[${i}]`, v, depth + 1));
  for (const [k, v] of Object.entries(value)) {
    checkKey(path, k);
    checkJson(`${path}[${JSON.stringify(k)}]`, v, depth + 1);
  }
}

function checkTimestamp(path: string, t: { seconds: bigint; nanos: number }): void {
  if (t.seconds < MIN_SECONDS || t.seconds > MAX_SECONDS) {
    throw invalidArgument(path, "must be a time between 0001-01-01 and 9999-12-31 (google.protobuf.Timestamp)", "aevon.timestamp.range");
  }
  if (!Number.isInteger(t.nanos) || t.nanos < 0 || t.nanos > MAX_NANOS) throw invalidArgument(`${path}.nanos`, `must be 0 to ${MAX_NANOS}`, "aevon.timestamp.nanos");
}

function checkMessage(desc: DescMessage, message: Record<string, unknown>, prefix: string): void {
  forEachField(desc, message, (field, value) => checkValue(field, value, `${prefix}${field.name}`));
}

function checkSingle(kind: "scalar" | "enum" | "message", message: DescMessage | undefined, value: unknown, path: string): void {
  if (value === undefined || value === null) return;
  if (kind === "scalar") {
    if (typeof value === "string") checkString(path, value);
  } else if (kind === "message" && message) {
    if (JSON_TYPES.has(message.typeName)) checkJson(path, value);
    else if (message.typeName === "google.protobuf.Timestamp") checkTimestamp(path, value as { seconds: bigint; nanos: number });
    else checkMessage(message, value as Record<string, unknown>, `${path}.`);
  }
}

function checkValue(field: DescField, value: unknown, path: string): void {
  switch (field.fieldKind) {
    case "list":
      (value as unknown[]).forEach((v, i) => checkSingle(field.listKind, field.message, v, `${path}[${i}]`));
      return;
    case "map":
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        checkKey(path, k);
        checkSingle(field.mapKind, field.message, v, `${path}[${JSON.stringify(k)}]`);
      }
      return;
    default:
      checkSingle(field.fieldKind, field.message, value, path);
  }
}

/** Throws INVALID_ARGUMENT naming the first field that holds unstorable text or an out-of-range timestamp. */
export function checkRequest(desc: DescMessage, request: unknown): void {
  checkMessage(desc, request as Record<string, unknown>, "");
}
