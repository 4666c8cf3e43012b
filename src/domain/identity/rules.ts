/** What a well-formed handle, email, display name and external identity are. */
import { invalidArgument } from "../errors.js";
import type { ExternalIdentity } from "./types.js";

/** Normalized handles: 3 to 30 of [a-z0-9_], starting with a letter. */
export const HANDLE_PATTERN = /^[a-z][a-z0-9_]{2,29}$/;
export const MAX_EMAIL_LENGTH = 254;
export const MAX_DISPLAY_NAME_LENGTH = 100;
export const MAX_EXTERNAL_ID_PART_LENGTH = 255;

/** Trims and lower-cases a handle, then checks the documented alphabet and length. */
export function normalizeHandle(field: string, raw: string): string {
  const handle = raw.trim().toLowerCase();
  if (!HANDLE_PATTERN.test(handle)) {
    throw invalidArgument(field, "must be 3 to 30 characters of a-z, 0-9 and _, starting with a letter (case is ignored)");
  }
  return handle;
}

/** A normalized handle prefix for search: empty, or [a-z0-9_] up to 30. */
export function normalizeHandlePrefix(field: string, raw: string): string {
  const prefix = raw.trim().toLowerCase();
  if (!/^[a-z0-9_]{0,30}$/.test(prefix)) throw invalidArgument(field, "may only hold a-z, 0-9 and _ (at most 30)");
  return prefix;
}

/** Trims an email and checks its shape; "" means none. Case is kept; uniqueness ignores it. */
export function normalizeEmail(field: string, raw: string): string | null {
  const email = raw.trim();
  if (email === "") return null;
  if (email.length > MAX_EMAIL_LENGTH || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
    throw invalidArgument(field, `must be an email address (at most ${MAX_EMAIL_LENGTH} characters)`);
  }
  return email;
}

export function checkDisplayName(field: string, raw: string): string {
  const name = raw.trim();
  if (name.length > MAX_DISPLAY_NAME_LENGTH) throw invalidArgument(field, `must be at most ${MAX_DISPLAY_NAME_LENGTH} characters`);
  return name;
}

export function checkExternalIdentity(field: string, identity: ExternalIdentity): ExternalIdentity {
  for (const part of ["provider", "subject"] as const) {
    const value = identity[part];
    if (value.length === 0 || value.length > MAX_EXTERNAL_ID_PART_LENGTH) {
      throw invalidArgument(`${field}.${part}`, `must be 1 to ${MAX_EXTERNAL_ID_PART_LENGTH} characters`);
    }
  }
  return identity;
}
