/**
 * Opaque, stable page tokens. A token carries the cursor (the last key
 * returned) and a fingerprint of the filters it was issued for, so a token
 * replayed with other filters is refused instead of silently skipping rows.
 * Each listing puts its own name among its filters (`listing: "users"`), so
 * a token of one listing is refused by another.
 */
import { createHash } from "node:crypto";
import { isUuid } from "../lib/ids.js";
import { invalidArgument } from "./errors.js";

/** One page of a listing. */
export interface Page<T> {
  items: T[];
  /** Opaque cursor for the next page, or "" when there is none. */
  next: string;
}

/** Page size when a request says 0. */
export const DEFAULT_PAGE_SIZE = 50;
/** Largest page a request may ask for. */
export const MAX_PAGE_SIZE = 500;

export function pageSize(requested: number): number {
  if (requested === 0) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(requested) || requested < 0 || requested > MAX_PAGE_SIZE) {
    throw invalidArgument("page_size", `must be between 0 and ${MAX_PAGE_SIZE} (0 means ${DEFAULT_PAGE_SIZE})`);
  }
  return requested;
}

function fingerprint(filters: unknown): string {
  return createHash("sha256").update(JSON.stringify(filters)).digest("base64url").slice(0, 16);
}

/**
 * A page token for `cursor` (the last key returned) under `filters`. `hint`,
 * when given, is a second key of the same row that lets the next page be
 * found through another index (e.g. an entry's account version beside its
 * position). It is optional in both directions: a token without one (issued
 * before hints existed) is still accepted, and a server that does not know
 * hints reads the cursor alone.
 */
export function encodePageToken(cursor: string, filters: unknown, hint?: string): string {
  return Buffer.from(JSON.stringify({ c: cursor, f: fingerprint(filters), ...(hint !== undefined ? { h: hint } : {}) })).toString("base64url");
}

/** Longest page token this service issues (a cursor, a hint and a fingerprint, base64url); longer ones are not ours. */
const MAX_PAGE_TOKEN_LENGTH = 512;
const INT64_MAX = 9_223_372_036_854_775_807n;
/** A position as encodePageToken writes it: a non-negative integer without leading zeros. */
const POSITION_PATTERN = /^(0|[1-9][0-9]{0,18})$/;

function notOurs(): never {
  throw invalidArgument("page_token", "is not a token this service issued");
}

/**
 * The cursor inside `token` and its hint (null when the token has none), or
 * null for the first page. A token's JSON is readable, so it is checked like
 * any input.
 */
export function decodePageCursor(token: string, filters: unknown): { cursor: string; hint: string | null } | null {
  if (token === "") return null;
  if (token.length > MAX_PAGE_TOKEN_LENGTH) notOurs();
  let parsed: { c?: unknown; f?: unknown; h?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    notOurs();
  }
  if (parsed === null || typeof parsed !== "object") notOurs();
  if (typeof parsed.c !== "string" || typeof parsed.f !== "string" || (parsed.h !== undefined && typeof parsed.h !== "string")) notOurs();
  if (parsed.f !== fingerprint(filters)) {
    throw invalidArgument("page_token", "was issued for different filters; start again without a token");
  }
  return { cursor: parsed.c, hint: (parsed.h as string | undefined) ?? null };
}

/** The cursor inside `token`, or null for the first page. */
export function decodePageToken(token: string, filters: unknown): string | null {
  return decodePageCursor(token, filters)?.cursor ?? null;
}

/** A position cursor (an int64 ≥ 0 written by encodePageToken), or a refusal. */
export function parsePosition(cursor: string): bigint {
  if (!POSITION_PATTERN.test(cursor) || BigInt(cursor) > INT64_MAX) notOurs();
  return BigInt(cursor);
}

/** The last id (a UUID) a listing keyed on ids returned, or null for the first page. */
export function decodeIdCursor(token: string, filters: unknown): string | null {
  const cursor = decodePageToken(token, filters);
  if (cursor !== null && !isUuid(cursor)) notOurs();
  return cursor;
}

/** The last position (an int64 ≥ 0) a listing keyed on positions returned, or null for the first page. */
export function decodePositionCursor(token: string, filters: unknown): bigint | null {
  const cursor = decodePageToken(token, filters);
  return cursor === null ? null : parsePosition(cursor);
}
