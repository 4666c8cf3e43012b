/**
 * Opaque, stable page tokens. A token carries the cursor (the last key
 * returned) and a fingerprint of the filters it was issued for, so a token
 * replayed with other filters is refused instead of silently skipping rows.
 */
import { createHash } from "node:crypto";
import { invalidArgument } from "./errors.js";

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

export function encodePageToken(cursor: string, filters: unknown): string {
  return Buffer.from(JSON.stringify({ c: cursor, f: fingerprint(filters) })).toString("base64url");
}

/** The cursor inside `token`, or null for the first page. */
export function decodePageToken(token: string, filters: unknown): string | null {
  if (token === "") return null;
  let parsed: { c?: unknown; f?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalidArgument("page_token", "is not a token this service issued");
  }
  if (typeof parsed.c !== "string" || typeof parsed.f !== "string") {
    throw invalidArgument("page_token", "is not a token this service issued");
  }
  if (parsed.f !== fingerprint(filters)) {
    throw invalidArgument("page_token", "was issued for different filters; start again without a token");
  }
  return parsed.c;
}
