/**
 * What a principal may look like, shared by certificates, JWTs and policies.
 */

/** The principal of every call in open mode. Never produced by a credential. */
export const ANONYMOUS_PRINCIPAL = "anonymous";

/** Longest accepted principal, in characters; longer identities are refused, not truncated. */
export const MAX_PRINCIPAL_LENGTH = 512;

// Printable ASCII (space to tilde), no leading or trailing space.
const PRINCIPAL = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/**
 * Whether `value` can be a principal: 1–512 characters of printable ASCII, no
 * leading or trailing space, and not the reserved `anonymous` (a credential
 * claiming it would blur "unauthenticated" with "authenticated").
 */
export function isAcceptablePrincipal(value: string): boolean {
  return value.length <= MAX_PRINCIPAL_LENGTH && PRINCIPAL.test(value) && value !== ANONYMOUS_PRINCIPAL;
}
