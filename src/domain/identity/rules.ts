/**
 * The one normalisation of identity input: handles are case-insensitive,
 * stored and compared lower-cased. Their shape (3 to 30 of [a-z0-9_]
 * starting with a letter), the email's and the display name's are rules of
 * the contract (proto/aevon/identity/v1, enforced before any use case runs);
 * PostgreSQL's CHECKs hold the stored handle and email to them too. Nothing
 * is trimmed.
 */

/** Lower-cases A-Z (ASCII only: the contract allows no other letters in a handle). */
function foldAscii(raw: string): string {
  return raw.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** A handle as stored and compared: lower-cased. */
export function normalizeHandle(raw: string): string {
  return foldAscii(raw);
}

/** A handle prefix for search: lower-cased, like the handles it matches. */
export function normalizeHandlePrefix(raw: string): string {
  return foldAscii(raw);
}

/** An email as sent; "" means none. Case is kept; uniqueness ignores it. */
export function normalizeEmail(raw: string): string | null {
  return raw === "" ? null : raw;
}
