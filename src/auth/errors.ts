/**
 * Authentication errors. Like DomainError (src/domain/errors.ts) they speak in
 * stable reasons; the transport maps `code` to the gRPC/Connect status (16 is
 * UNAUTHENTICATED, 14 UNAVAILABLE in both) and sends `reason` as
 * google.rpc.ErrorInfo.reason. Messages are safe to return to the client: they
 * never contain the token, a key or a stack.
 */
export const AuthReason = {
  /** No client certificate with a usable identity (mTLS), or no `authorization` header (JWT). */
  CREDENTIALS_MISSING: "CREDENTIALS_MISSING",
  /** Malformed header, bad signature, unknown key, disallowed algorithm, unusable `sub`. */
  TOKEN_INVALID: "TOKEN_INVALID",
  /** `exp` is in the past (beyond the clock tolerance). */
  TOKEN_EXPIRED: "TOKEN_EXPIRED",
  /** `nbf` (or `iat`) is in the future (beyond the clock tolerance). */
  TOKEN_NOT_YET_VALID: "TOKEN_NOT_YET_VALID",
  /** `aud` does not name this service. */
  TOKEN_AUDIENCE: "TOKEN_AUDIENCE",
  /** `iss` is not the configured issuer. */
  TOKEN_ISSUER: "TOKEN_ISSUER",
  /** A bearer token was presented with a client certificate and its `sub` differs from the certificate's principal. */
  PRINCIPAL_MISMATCH: "PRINCIPAL_MISMATCH",
  /** The JWKS URL could not be reached or answered garbage: retryable, not the caller's fault. */
  KEYS_UNAVAILABLE: "KEYS_UNAVAILABLE",
} as const;

export type AuthReasonName = (typeof AuthReason)[keyof typeof AuthReason];

/** The status name the transport should answer with. */
export type AuthStatus = "UNAUTHENTICATED" | "UNAVAILABLE";

export class AuthError extends Error {
  override readonly name = "AuthError";
  /** UNAVAILABLE only for KEYS_UNAVAILABLE; everything else is UNAUTHENTICATED. */
  readonly status: AuthStatus;
  constructor(
    /** Stable machine-readable reason. */
    readonly reason: AuthReasonName,
    /** Client-safe message. */
    message: string,
  ) {
    super(message);
    this.status = reason === AuthReason.KEYS_UNAVAILABLE ? "UNAVAILABLE" : "UNAUTHENTICATED";
  }
}
