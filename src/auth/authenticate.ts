/**
 * Who is calling: one principal per call, or an AuthError (UNAUTHENTICATED).
 *
 * - `mtls`: the client certificate's principal (required; the TLS handshake
 *   already refused unknown CAs). A bearer token sent as well is verified when
 *   JWT is configured, and its `sub` must be that same principal.
 * - `jwt`: the `sub` of a valid bearer token (required).
 * - `open`: everyone is `anonymous`. Refused in production unless asked for.
 */
import { AuthError, AuthReason } from "./errors.js";
import type { VerifiedToken } from "./jwt.js";
import { ANONYMOUS_PRINCIPAL, isAcceptablePrincipal } from "./principal.js";

export type AuthMode = "mtls" | "jwt" | "open";

/** The environment values the mode depends on (passed in: this module reads no environment). */
export interface AuthModeInputs {
  /** NODE_ENV. */
  readonly nodeEnv: string | undefined;
  /** AUTH_MODE: unset, or `insecure` to accept open mode in production. */
  readonly authMode: string | undefined;
  /** Whether TLS_CLIENT_CA_FILE is set (client certificates are then required). */
  readonly clientCaConfigured: boolean;
  /** Whether a JWKS file or URL is set (JWT_JWKS_FILE / JWT_JWKS_URL). */
  readonly jwtConfigured: boolean;
}

/**
 * mTLS when a client CA is configured, else JWT when keys are configured, else
 * open. Open mode with NODE_ENV=production throws unless AUTH_MODE=insecure.
 * AUTH_MODE=insecure never weakens configured credentials: it only accepts
 * their absence.
 */
export function resolveAuthMode(inputs: AuthModeInputs): AuthMode {
  const authMode = inputs.authMode ?? "";
  if (authMode !== "" && authMode !== "insecure") {
    throw new Error(`AUTH_MODE must be unset or "insecure" (got ${JSON.stringify(authMode.slice(0, 32))})`);
  }
  if (inputs.clientCaConfigured) return "mtls";
  if (inputs.jwtConfigured) return "jwt";
  if (inputs.nodeEnv === "production" && authMode !== "insecure") {
    throw new Error(
      "no caller authentication is configured: set TLS_CLIENT_CA_FILE (mTLS) or JWT_JWKS_FILE / JWT_JWKS_URL (JWT); " +
        "with NODE_ENV=production, open mode needs AUTH_MODE=insecure set explicitly",
    );
  }
  return "open";
}

/** What a call brings; the transport fills it in. */
export interface CallCredentials {
  /** principalFromCertificate() of the verified client certificate, if any. */
  readonly certificatePrincipal?: string | undefined;
  /** The `authorization` header/metadata value(s), if any. */
  readonly authorization?: string | readonly string[] | undefined;
}

/** The part of JwtVerifier the authenticator needs. */
export interface TokenVerifier {
  verify(authorization: string | readonly string[] | undefined): Promise<VerifiedToken>;
}

export interface AuthenticatorOptions {
  readonly mode: AuthMode;
  /** Required in `jwt` mode; optional in `mtls` mode (then a presented token must match the certificate); ignored in `open` mode. */
  readonly jwt?: TokenVerifier | undefined;
}

export interface Authenticator {
  readonly mode: AuthMode;
  /** The call's principal, or throws AuthError. */
  authenticate(credentials: CallCredentials): Promise<string>;
}

function presented(authorization: string | readonly string[] | undefined): boolean {
  if (authorization === undefined) return false;
  return typeof authorization === "string" ? authorization.length > 0 : authorization.length > 0;
}

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const { mode, jwt } = options;
  if (mode === "jwt" && !jwt) throw new Error("JWT mode needs a token verifier");
  switch (mode) {
    case "open":
      return { mode, authenticate: async () => ANONYMOUS_PRINCIPAL };
    case "jwt":
      return { mode, authenticate: async ({ authorization }) => (await jwt!.verify(authorization)).subject };
    case "mtls":
      return {
        mode,
        authenticate: async ({ certificatePrincipal, authorization }) => {
          if (certificatePrincipal === undefined || !isAcceptablePrincipal(certificatePrincipal)) {
            throw new AuthError(AuthReason.CREDENTIALS_MISSING, "a client certificate with a URI SAN, DNS SAN or CN is required");
          }
          // Without a verifier a token carries no weight here: the certificate decides.
          if (jwt && presented(authorization)) {
            const { subject } = await jwt.verify(authorization);
            if (subject !== certificatePrincipal) {
              throw new AuthError(AuthReason.PRINCIPAL_MISMATCH, "the bearer token's sub does not match the client certificate's principal");
            }
          }
          return certificatePrincipal;
        },
      };
  }
}
