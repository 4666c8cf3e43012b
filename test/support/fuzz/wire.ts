/** Protobuf wire format by hand, for bytes no encoder would write, and the decoder the server uses as the oracle. */
import { fromBinary, ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";

export function varint(n: bigint | number): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
export const tag = (fieldNo: number, wireType: number) => varint((fieldNo << 3) | wireType);
export const concat = (...parts: ArrayLike<number>[]) => Uint8Array.from(parts.flatMap((p) => Array.from(p)));

/** The wire types a parser accepts for a field. */
export function wireTypesOf(field: DescField): number[] {
  const kind = field.fieldKind === "list" ? field.listKind : field.fieldKind;
  if (kind === "message") return [2];
  const packed = field.fieldKind === "list" ? [2] : [];
  if (kind === "enum") return [0, ...packed];
  switch (field.scalar) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return [2];
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return [1, ...packed];
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return [5, ...packed];
    default:
      return [0, ...packed];
  }
}

/** The message protobuf-es (the server's decoder) reads from `bytes`, or undefined when it cannot. */
export function decoded(desc: DescMessage, bytes: Uint8Array): unknown {
  try {
    return fromBinary(desc, bytes);
  } catch {
    return undefined;
  }
}

/** True when a known field of a decoded message holds U+0000 (unknown fields are skipped: the service never reads them). */
export function holdsNul(value: unknown): boolean {
  if (typeof value === "string") return value.includes("\u0000");
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return false;
  if (Array.isArray(value)) return value.some(holdsNul);
  return Object.entries(value).some(([k, v]) => k !== "$unknown" && (k.includes("\u0000") || holdsNul(v)));
}
