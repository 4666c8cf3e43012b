/**
 * The poisons: what makes a fuzzed request certain to be refused before it
 * reaches the database, and the answer each one must get. A request is
 * filled with clean hostile fillers, then exactly one poison is applied.
 */
import { ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { FIELD_RULES, REQUEST_RULES } from "./field-rules.js";
import { INT64_MAX, INT64_MIN, isStruct, isText, isTimestamp, json, force, type Known, type Rng, type Site } from "./messages.js";
import { concat, decoded, holdsNul, tag, varint, wireTypesOf } from "./wire.js";

export type Transport = "grpc" | "connect";

/** The answer an input must get (never OK; INTERNAL only as gRPC's "Error deserializing request"). */
export type Expectation =
  /** INVALID_ARGUMENT naming `field` in ErrorInfo and BadRequest. */
  | { kind: "field"; field: string }
  /** INVALID_ARGUMENT from the protobuf JSON decoder, its message naming `contains`. */
  | { kind: "decoder"; contains: string }
  /** INVALID_ARGUMENT. */
  | { kind: "invalid" }
  | { kind: "resource-exhausted" }
  /** INTERNAL "Error deserializing request": gRPC's status for bytes the server cannot decode. */
  | { kind: "deserialize" }
  /** Any documented refusal. */
  | { kind: "refused" };

export interface PoisonContext {
  rng: Rng;
  desc: DescMessage;
  sites: Site[];
  init: Record<string, unknown>;
  transport: Transport;
  known: Known;
  /** The server's receive limit, bytes. */
  maxBytes: number;
  /** The request as the transport sends it (binary, or the JSON value), once `init` is final. */
  encode(): Uint8Array;
  toJson(): Record<string, unknown>;
}

/** What a poison produced: the body (or `init` as it now is), the metadata, and the expected answer. */
export interface Dose {
  detail: string;
  expect: Expectation;
  bytes?: Uint8Array;
  text?: string;
  headers?: Record<string, string>;
}

export interface Poison {
  name: string;
  transports: Transport[];
  weight: number;
  applies(ctx: PoisonContext): boolean;
  make(ctx: PoisonContext): Dose;
}

/** `bad` spliced into a short text, between two code points (never inside a surrogate pair). */
function splice(rng: Rng, bad: string): string {
  const points = Array.from(rng.pick(["", "x", "abc", "😀", "memo", "a😀b"]));
  points.splice(rng.int(points.length + 1), 0, bad);
  return points.join("");
}

/** A JSON object with `bad` in one key or string value, somewhere inside; returns it and the path the service names. */
function poisonedJson(rng: Rng, base: string, bad: string | number): { value: Record<string, unknown>; path: string } {
  const value = json(rng);
  let obj = value;
  let path = base;
  for (let d = rng.int(3); d > 0; d--) {
    const child: Record<string, unknown> = {};
    if (rng.chance(0.5)) {
      obj[`n${d}`] = child;
      path += `["n${d}"]`;
    } else {
      obj[`l${d}`] = [1, child];
      path += `["l${d}"][1]`;
    }
    obj = child;
  }
  if (typeof bad === "number") {
    obj.v = bad;
    return { value, path: `${path}["v"]` };
  }
  if (rng.chance(0.5)) {
    obj[`k${bad}`] = 1;
    return { value, path: `${path} (a key)` };
  }
  obj.v = splice(rng, bad);
  return { value, path: `${path}["v"]` };
}

/** Sets `value` in the JSON form of the request at `site` (by JSON names, first list element). */
function forceJson(obj: Record<string, unknown>, site: Site, value: unknown): void {
  let at = obj;
  site.chain.forEach((field, i) => {
    const last = i === site.chain.length - 1;
    // One member of a oneof at a time: JSON naming two is refused for that reason.
    for (const other of field.oneof?.fields ?? []) if (other !== field) delete at[other.jsonName];
    if (field.fieldKind === "list") {
      const list = Array.isArray(at[field.jsonName]) ? (at[field.jsonName] as unknown[]) : [];
      at[field.jsonName] = list;
      if (last) list[0] = value;
      else at = (list[0] = typeof list[0] === "object" && list[0] !== null ? list[0] : {}) as Record<string, unknown>;
    } else if (last) {
      at[field.jsonName] = value;
    } else {
      const child = at[field.jsonName];
      at = (at[field.jsonName] = typeof child === "object" && child !== null ? child : {}) as Record<string, unknown>;
    }
  });
}

const inFieldMask = (s: Site) => s.parent.typeName === "google.protobuf.FieldMask";
const fullName = (s: Site) => `${s.parent.typeName}.${s.leaf.name}`;
const isInt64 = (f: DescField) => f.fieldKind === "scalar" && [ScalarType.INT64, ScalarType.SINT64, ScalarType.SFIXED64].includes(f.scalar);

export const POISONS: Poison[] = [
  {
    name: "U+0000",
    transports: ["grpc", "connect"],
    weight: 4,
    applies: (c) => c.sites.some((s) => isText(s) || isStruct(s)),
    make: (c) => {
      const site = c.rng.pick(c.sites.filter((s) => isText(s) || isStruct(s)));
      if (isStruct(site)) {
        const { value, path } = poisonedJson(c.rng, site.path, "\u0000");
        force(c.init, site, value);
        return { detail: `NUL at ${path}`, expect: { kind: "field", field: path } };
      }
      // Now and then the text is nearly the whole receive limit: the check must not depend on it being short.
      const big = c.rng.chance(0.05) ? "b".repeat(c.maxBytes - 16 * 1024) : "";
      force(c.init, site, splice(c.rng, "\u0000") + big);
      const size = c.transport === "grpc" ? c.encode().length : Buffer.byteLength(JSON.stringify(c.toJson()));
      if (size > c.maxBytes) return { detail: `NUL in ${site.path}, ${size} bytes`, expect: { kind: "resource-exhausted" } };
      return { detail: `NUL in ${site.path}${big ? `, ${size} bytes` : ""}`, expect: { kind: "field", field: site.path } };
    },
  },
  {
    name: "lone surrogate",
    transports: ["connect"],
    weight: 3,
    applies: (c) => c.sites.some((s) => (isText(s) && !inFieldMask(s)) || isStruct(s)),
    make: (c) => {
      const site = c.rng.pick(c.sites.filter((s) => (isText(s) && !inFieldMask(s)) || isStruct(s)));
      const bad = c.rng.pick(["\ud800", "\udbff", "\udc00", "\udfff", "\ude00\ud83d"]);
      if (isStruct(site)) {
        const { value, path } = poisonedJson(c.rng, site.path, bad);
        force(c.init, site, value);
        return { detail: `lone surrogate at ${path}`, expect: { kind: "field", field: path } };
      }
      force(c.init, site, splice(c.rng, bad));
      return { detail: `lone surrogate in ${site.path}`, expect: { kind: "decoder", contains: fullName(site) } };
    },
  },
  {
    name: "NaN or Infinity in a Struct",
    transports: ["grpc"],
    weight: 0.5,
    applies: (c) => c.sites.some(isStruct),
    make: (c) => {
      const site = c.rng.pick(c.sites.filter(isStruct));
      const { value, path } = poisonedJson(c.rng, site.path, c.rng.pick([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]));
      force(c.init, site, value);
      return { detail: `non-finite number at ${path}`, expect: { kind: "field", field: path } };
    },
  },
  {
    name: "Timestamp out of range",
    transports: ["grpc"],
    weight: 3,
    applies: (c) => c.sites.some(isTimestamp),
    make: (c) => {
      const site = c.rng.pick(c.sites.filter(isTimestamp));
      if (c.rng.chance(0.6)) {
        const seconds = c.rng.pick([10n ** 15n, INT64_MAX, INT64_MIN, -62_135_596_801n, 253_402_300_800n, -(10n ** 12n)]);
        force(c.init, site, { seconds, nanos: c.rng.int(1e9) });
        return { detail: `${site.path}.seconds = ${seconds}`, expect: { kind: "field", field: site.path } };
      }
      const nanos = c.rng.pick([-1, 1_000_000_000, 2 ** 31 - 1, -(2 ** 31)]);
      force(c.init, site, { seconds: 1_700_000_000n, nanos });
      return { detail: `${site.path}.nanos = ${nanos}`, expect: { kind: "field", field: `${site.path}.nanos` } };
    },
  },
  {
    name: "Timestamp JSON out of range",
    transports: ["connect"],
    weight: 1,
    applies: (c) => c.sites.some(isTimestamp),
    make: (c) => {
      const site = c.rng.pick(c.sites.filter(isTimestamp));
      const value = c.rng.pick(["10000-01-01T00:00:00Z", "0000-12-31T23:59:59Z", "2024-13-01T00:00:00Z", "2024-01-01T00:00:00.1234567891Z", "yesterday", 1_700_000_000]);
      const obj = c.toJson();
      forceJson(obj, site, value);
      return { detail: `${site.path} = ${JSON.stringify(value)}`, text: JSON.stringify(obj), expect: { kind: "invalid" } };
    },
  },
  {
    name: "over the receive limit",
    transports: ["grpc", "connect"],
    weight: 0.3,
    applies: () => true,
    make: (c) => {
      const size = c.maxBytes + 1 + c.rng.int(1024);
      const text = c.sites.filter((s) => isText(s) && !inFieldMask(s));
      if (text.length > 0 && c.rng.chance(0.7)) {
        const site = c.rng.pick(text);
        force(c.init, site, "a".repeat(size));
        return { detail: `${size} bytes in ${site.path}`, expect: { kind: "resource-exhausted" } };
      }
      if (c.transport === "connect") return { detail: `${size} bytes of JSON`, text: JSON.stringify({ padding: "a".repeat(size) }), expect: { kind: "resource-exhausted" } };
      // An unknown field (number 1000): skipped by a decoder, but the message is too large first.
      return { detail: `${size} bytes in unknown field 1000`, bytes: concat(c.encode(), tag(1000, 2), varint(size), new Uint8Array(size)), expect: { kind: "resource-exhausted" } };
    },
  },
  {
    name: "undecodable bytes",
    transports: ["grpc"],
    weight: 2,
    applies: () => true,
    make: (c) => {
      const tail = c.rng.bytes(c.rng.int(48));
      const strings = c.desc.fields.filter((f) => f.fieldKind === "scalar" && f.scalar === ScalarType.STRING);
      const variant = c.rng.int(strings.length > 0 ? 5 : 3);
      const [what, bytes] = [
        () => ["field number 0", concat([c.rng.pick([0x00, 0x02, 0x05])], tail)],
        () => ["wire type 6 or 7", concat(tag(1 + c.rng.int(20), c.rng.pick([6, 7])), tail)],
        () => ["a tag over uint32", concat([0xff, 0xff, 0xff, 0xff, 0x7f], tail)],
        () => ["a string longer than the message", concat(c.encode(), tag(strings[0]!.number, 2), varint(1000 + tail.length), tail)],
        () => ["invalid UTF-8 in a string", concat(c.encode(), tag(c.rng.pick(strings).number, 2), [2, 0xc3, 0x28])],
      ][variant]!() as [string, Uint8Array];
      return { detail: what, bytes, expect: { kind: "deserialize" } };
    },
  },
  {
    name: "wrong wire type",
    transports: ["grpc"],
    weight: 2,
    applies: (c) => c.desc.fields.length > 0,
    make: (c) => {
      // A NUL first, where there is text: if the decoder reads the wrong wire type anyway and the NUL survives, the service must refuse it.
      const text = c.sites.filter(isText);
      if (text.length > 0) force(c.init, c.rng.pick(text), splice(c.rng, "\u0000"));
      const field = c.rng.pick(c.desc.fields);
      const wrong = c.rng.pick([0, 1, 2, 3, 5].filter((w) => !wireTypesOf(field).includes(w)));
      const payload = { 0: () => varint(c.rng.pick([0n, 5n, INT64_MAX])), 1: () => c.rng.bytes(8), 2: () => [3, ...c.rng.bytes(3)], 3: () => [], 5: () => c.rng.bytes(4) }[wrong as 0 | 1 | 2 | 3 | 5]();
      const bytes = concat(c.encode(), tag(field.number, wrong), payload);
      const detail = `${field.name} (#${field.number}) as wire type ${wrong}`;
      const read = decoded(c.desc, bytes);
      if (read === undefined) return { detail, bytes, expect: { kind: "deserialize" } };
      if (holdsNul(read)) return { detail: `${detail}, read anyway, NUL kept`, bytes, expect: { kind: "invalid" } };
      // Read anyway and nothing else wrong with it: an illegal tag after it makes it undecodable for certain.
      return { detail: `${detail}, read anyway, then an illegal tag`, bytes: concat(bytes, [0x00]), expect: { kind: "deserialize" } };
    },
  },
  {
    name: "field rule",
    transports: ["grpc", "connect"],
    weight: 6,
    applies: (c) => c.sites.some((s) => FIELD_RULES.some((r) => r.matches(s))) || REQUEST_RULES[c.desc.typeName] !== undefined,
    make: (c) => {
      const pairs = c.sites.flatMap((site) => FIELD_RULES.filter((r) => r.matches(site)).map((rule) => ({ site, rule })));
      const whole = REQUEST_RULES[c.desc.typeName];
      if (whole && (pairs.length === 0 || c.rng.chance(0.2))) return { detail: whole(c.rng, c.init), expect: { kind: "refused" } };
      const { site, rule } = c.rng.pick(pairs);
      const value = rule.value(c.rng, c.init, site);
      force(c.init, site, value);
      const shown = typeof value === "string" && value.length > 40 ? `${value.slice(0, 12)}…(${value.length})` : String(value);
      return { detail: `${rule.name}: ${site.path} = ${JSON.stringify(shown)}`, expect: { kind: "refused" } };
    },
  },
  {
    name: "malformed metadata",
    transports: ["grpc", "connect"],
    weight: 1.5,
    applies: () => true,
    make: (c) => {
      const header = c.rng.pick(["x-actor", "x-request-id"]);
      const value = c.transport === "connect" ? c.rng.pick(["s\u00e9rvice", "\u00ff"]) : c.rng.pick(["svc a", "a".repeat(300), "", "x".repeat(257)]);
      return { detail: `${header}: ${JSON.stringify(value.length > 20 ? `${value.slice(0, 8)}…(${value.length})` : value)}`, headers: { [header]: value }, expect: { kind: "field", field: header } };
    },
  },
  {
    name: "JSON int64 out of range",
    transports: ["connect"],
    weight: 1.5,
    applies: (c) => c.sites.some((s) => isInt64(s.leaf)),
    make: (c) => {
      const site = c.rng.pick(c.sites.filter((s) => isInt64(s.leaf)));
      const value = c.rng.pick(["9223372036854775808", "-9223372036854775809", "18446744073709551616", "1.5", "abc", "1e400"]);
      const obj = c.toJson();
      forceJson(obj, site, value);
      return { detail: `${site.path} = "${value}"`, text: JSON.stringify(obj), expect: { kind: "decoder", contains: fullName(site) } };
    },
  },
  {
    name: "JSON of the wrong type",
    transports: ["connect"],
    weight: 1,
    applies: (c) => c.sites.some((s) => s.leaf.fieldKind === "scalar" || s.leaf.fieldKind === "enum"),
    make: (c) => {
      const site = c.rng.pick(c.sites.filter((s) => s.leaf.fieldKind === "scalar" || s.leaf.fieldKind === "enum"));
      // (An unknown enum name is not one: Connect decodes JSON ignoring unknown fields, which drops it like an unknown field.)
      const value = site.leaf.fieldKind === "enum" ? c.rng.pick([true, {}, [1], 1.5]) : c.rng.pick([{}, [1], true, 12.5]);
      const obj = c.toJson();
      forceJson(obj, site, value);
      return { detail: `${site.path} = ${JSON.stringify(value)}`, text: JSON.stringify(obj), expect: { kind: "invalid" } };
    },
  },
  {
    name: "not JSON",
    transports: ["connect"],
    weight: 0.7,
    applies: () => true,
    make: (c) => {
      const whole = JSON.stringify(c.toJson());
      const text = c.rng.pick([whole.slice(0, -1), "[]", "{,}", '{"a":}', "{'a':1}", "1", `${whole}}`, "\u0000"]);
      return { detail: `body ${JSON.stringify(text.slice(0, 30))}`, text, expect: { kind: "invalid" } };
    },
  },
];
