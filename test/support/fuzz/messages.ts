/**
 * Request messages for the fuzzer, built by reflection over the generated
 * descriptors: a seeded PRNG, "clean" filler values (hostile but never one
 * of the poisons: no U+0000, no lone surrogate, no out-of-range Timestamp),
 * and the field sites of a request with the path the service names them by.
 */
import { ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";

/** sfc32: a small, fast, seedable PRNG (the fuzzer must replay from its seed). */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;
  constructor(seed: number) {
    [this.a, this.b, this.c] = [0x9e3779b9, 0x243f6a88, seed >>> 0];
    for (let i = 0; i < 15; i++) this.next();
  }
  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.int(256));
  }
  uuid(): string {
    const hex = Array.from(this.bytes(16), (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  }
}

export const INT64_MAX = 2n ** 63n - 1n;
export const INT64_MIN = -(2n ** 63n);
export const INT32_MAX = 2 ** 31 - 1;
export const INT32_MIN = -(2 ** 31);

/** Ids that exist in the fuzzed database, so some requests get past their lookups. */
export interface Known {
  ids: string[];
}

const TEXT = [
  "", "a", "USD", "EUR", "AEV", "ZZZ", "usd", "abc_", "%", "_", "\\", "' OR 1=1 --", "😀", "😀".repeat(70), "\u202eevil", "\ufeffbom",
  " ", "\t", "x".repeat(300), "ledger.transfer", "user", "account", "handle", "display_name", "a@example.com", "Alice", "spiffe://a/b",
  "00000000-0000-0000-0000-000000000000", "é", "𝔘𝔫𝔦", "\r\n", "\u0001", "k-1",
];

/** A string for `field`: a plausible value by its name sometimes, else anything from the corpus. */
function text(rng: Rng, field: DescField, known: Known): string {
  if (rng.chance(0.4)) {
    if (field.name.endsWith("_id") || field.name.endsWith("_ids")) return rng.chance(0.5) ? rng.pick(known.ids) : rng.uuid();
    if (field.name === "idempotency_key") return `k-${rng.uuid()}`;
    if (field.name === "currency" || field.name === "code") return rng.pick(["USD", "EUR", "AEV"]);
    if (field.name === "handle") return `h${rng.int(1e9)}`;
  }
  return rng.pick(TEXT);
}

function int64(rng: Rng): bigint {
  return rng.pick([0n, 1n, -1n, 100n, INT64_MAX, INT64_MIN, 2n ** 31n, BigInt(rng.int(1e9)) - 500_000_000n]);
}

function scalar(rng: Rng, field: DescField & { scalar: ScalarType }, known: Known): unknown {
  switch (field.scalar) {
    case ScalarType.STRING:
      return text(rng, field, known);
    case ScalarType.BOOL:
      return rng.chance(0.5);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return int64(rng);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return rng.pick([0n, 1n, 2n ** 64n - 1n, 2n ** 63n]);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return rng.pick([0, 1, 2 ** 32 - 1]);
    case ScalarType.BYTES:
      return rng.bytes(rng.int(16));
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return rng.pick([0, -0.5, 1e308, Number.NaN, Number.POSITIVE_INFINITY]);
    default:
      return rng.pick([0, 1, -1, 50, 500, 501, INT32_MAX, INT32_MIN]);
  }
}

/** A Timestamp inside 0001-01-01 … 9999-12-31T23:59:59.999999999 (out of range is a poison, not a filler). */
export function validTimestamp(rng: Rng): { seconds: bigint; nanos: number } {
  const seconds = rng.pick([-62_135_596_800n, 253_402_300_799n, 0n, 1_700_000_000n, BigInt(Math.floor(Date.now() / 1000))]);
  return { seconds, nanos: rng.pick([0, 999_999_999, rng.int(1e9)]) };
}

/** A JSON object for a google.protobuf.Struct, with clean strings. */
export function json(rng: Rng, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = rng.int(4); i > 0; i--) {
    const k = rng.pick(["note", "", "a.b", "😀", "__proto__x", "x".repeat(40)]);
    out[k] = rng.pick<() => unknown>([
      () => rng.pick(TEXT),
      () => rng.pick([0, -1, 1e300, 0.5]),
      () => rng.chance(0.5),
      () => null,
      () => (depth < 2 ? json(rng, depth + 1) : {}),
      () => (depth < 2 ? [rng.pick(TEXT), json(rng, depth + 1)] : []),
    ])();
  }
  return out;
}

const WKT_LEAVES = new Set(["google.protobuf.Timestamp", "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"]);

function single(rng: Rng, field: DescField, known: Known, depth: number): unknown {
  const kind = field.fieldKind === "list" ? field.listKind : field.fieldKind;
  if (kind === "scalar") return scalar(rng, field as DescField & { scalar: ScalarType }, known);
  if (kind === "enum") {
    const values = field.enum!.values.map((v) => v.number);
    return rng.chance(0.85) ? rng.pick(values) : rng.pick([99, -1, INT32_MAX]);
  }
  const message = field.message!;
  if (message.typeName === "google.protobuf.Timestamp") return validTimestamp(rng);
  if (message.typeName === "google.protobuf.Struct") return json(rng);
  return depth < 3 ? fill(rng, message, known, depth + 1) : {};
}

/** A message init (protobuf-es shape) with about `density` of its fields set to fillers. */
export function fill(rng: Rng, desc: DescMessage, known: Known, depth = 0, density = 0.6): Record<string, unknown> {
  const init: Record<string, unknown> = {};
  for (const member of desc.members) {
    if (member.kind === "oneof") {
      if (rng.chance(0.7)) {
        const field = rng.pick(member.fields);
        init[member.localName] = { case: field.localName, value: single(rng, field, known, depth) };
      }
    } else if (rng.chance(density)) {
      if (member.fieldKind === "list") {
        init[member.localName] = Array.from({ length: rng.int(4) }, () => single(rng, member, known, depth));
      } else if (member.fieldKind !== "map") {
        init[member.localName] = single(rng, member, known, depth);
      }
    }
  }
  return init;
}

/** A field of the request, reached through `chain`, named `path` as the service names it (`legs[0].memo`). */
export interface Site {
  chain: DescField[];
  path: string;
  leaf: DescField;
  /** The message declaring the leaf. */
  parent: DescMessage;
}

/** Every field site of `desc`, down to 3 messages deep (the first element of a list stands for the list). */
export function sitesOf(desc: DescMessage, depth = 0, prefix = "", chain: DescField[] = []): Site[] {
  const out: Site[] = [];
  for (const field of desc.fields) {
    const name = field.fieldKind === "list" ? `${prefix}${field.name}[0]` : `${prefix}${field.name}`;
    const here = [...chain, field];
    out.push({ chain: here, path: name, leaf: field, parent: desc });
    const message = field.message;
    if (message && !WKT_LEAVES.has(message.typeName) && depth < 3 && field.fieldKind !== "map") {
      out.push(...sitesOf(message, depth + 1, `${name}.`, here));
    }
  }
  return out;
}

/** True for a site holding text (a string, or a list of them). */
export function isText(site: Site): boolean {
  const f = site.leaf;
  return (f.fieldKind === "scalar" || (f.fieldKind === "list" && f.listKind === "scalar")) && f.scalar === ScalarType.STRING;
}

export function isTimestamp(site: Site): boolean {
  return site.leaf.message?.typeName === "google.protobuf.Timestamp";
}

export function isStruct(site: Site): boolean {
  return site.leaf.message?.typeName === "google.protobuf.Struct";
}

/** Sets `value` at `site` in `init`, creating the messages, list element and oneof case on the way. */
export function force(init: Record<string, unknown>, site: Site, value: unknown): void {
  let obj = init;
  site.chain.forEach((field, i) => {
    const last = i === site.chain.length - 1;
    const oneof = field.oneof;
    const get = (): unknown => {
      if (!oneof) return obj[field.localName];
      const current = obj[oneof.localName] as { case?: string; value?: unknown } | undefined;
      return current?.case === field.localName ? current.value : undefined;
    };
    const set = (v: unknown) => {
      if (oneof) obj[oneof.localName] = { case: field.localName, value: v };
      else obj[field.localName] = v;
    };
    if (field.fieldKind === "list") {
      const list = Array.isArray(get()) ? (get() as unknown[]) : [];
      set(list);
      if (last) {
        list[0] = value;
        return;
      }
      if (typeof list[0] !== "object" || list[0] === null) list[0] = {};
      obj = list[0] as Record<string, unknown>;
    } else if (last) {
      set(value);
    } else {
      let child = get();
      if (typeof child !== "object" || child === null) {
        child = {};
        set(child);
      }
      obj = child as Record<string, unknown>;
    }
  });
}
