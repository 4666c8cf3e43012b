/**
 * JWT bearer verification (`authorization: Bearer <jwt>`) with `jose`.
 *
 * Keys come from a JWKS file (re-read by `reload()`) and/or a JWKS URL
 * (jose's createRemoteJWKSet: cached, refetched when a token names an unknown
 * key but at most once per cooldown, bounded by a timeout). A token is
 * accepted only if it is signed with an allowed algorithm by a known key, and
 * its `iss`, `aud`, `exp` (required) and `nbf` hold within the clock
 * tolerance. Its `sub` is the principal.
 *
 * Every failure is an AuthError with a stable reason and a message that never
 * contains the token.
 */
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey, type JWTVerifyOptions } from "jose";
import { readFile, stat } from "node:fs/promises";
import { AuthError, AuthReason } from "./errors.js";
import { isAcceptablePrincipal } from "./principal.js";

/** Signature algorithms accepted when `algorithms` is not given: asymmetric only. */
export const DEFAULT_JWT_ALGORITHMS = ["RS256", "ES256", "EdDSA"] as const;
const ASYMMETRIC = new Set(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"]);
const SYMMETRIC = new Set(["HS256", "HS384", "HS512"]);

export interface JwtVerifierOptions {
  /** Accepted `iss` value(s). Required: a token from another issuer is refused. */
  readonly issuer: string | readonly string[];
  /** Accepted `aud` value(s) (any one must appear in the token). Required: a token minted for another service is refused. */
  readonly audience: string | readonly string[];
  /** JWKS file (JSON `{ "keys": [...] }`, public keys only); re-read on `reload()`. At least one of jwksFile / jwksUrl. */
  readonly jwksFile?: string | undefined;
  /** JWKS URL; https, or http only to a loopback host. Keys are tried after the file's when a token's key is not in the file. */
  readonly jwksUrl?: string | undefined;
  /**
   * Accepted `alg` values. Default RS256, ES256, EdDSA. `none` is always refused; HS256/384/512
   * only when listed here (a shared secret lets every verifier mint tokens) and only with jwksFile.
   */
  readonly algorithms?: readonly string[];
  /** Allowed clock skew for `exp`/`nbf`, seconds. Default 30 (typical NTP drift between hosts plus token transit); at most 300. */
  readonly clockToleranceSec?: number;
  /** Timeout of one JWKS URL fetch, ms. Default 5 000; at most 30 000 (a call waits for it). */
  readonly jwksTimeoutMs?: number;
  /** Least time between two fetches triggered by unknown key ids, ms. Default 30 000 (jose's): bounds traffic from forged `kid`s. */
  readonly jwksCooldownMs?: number;
  /** Refetch the JWKS URL when its copy is older than this, ms. Default 600 000 (jose's). */
  readonly jwksCacheMaxAgeMs?: number;
  /** Longest accepted token, bytes. Default 8 192 (gRPC metadata is commonly capped at 8 KiB). */
  readonly maxTokenBytes?: number;
  /** Largest accepted JWKS file, bytes. Default 1 MiB. */
  readonly maxJwksFileBytes?: number;
}

/** What a verified token says about its bearer. */
export interface VerifiedToken {
  readonly subject: string;
}

/** Outcome of `reload()`. */
export type JwksReloadOutcome =
  | { readonly type: "reloaded"; readonly keyCount: number }
  | { readonly type: "unchanged" }
  | { readonly type: "rejected"; readonly error: string };


class KeysUnavailable extends Error {}

const BEARER = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+) *$/i;

function bounded(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < min || v > max) throw new Error(`JWT option ${name} must be between ${min} and ${max}`);
  return v;
}

export class JwtVerifier {
  private localKeys: ReturnType<typeof createLocalJWKSet> | undefined;
  /** HS* secrets by kid (jose's JWKS sets take public keys only). */
  private secrets = new Map<string | undefined, Uint8Array>();
  private localJson: string | undefined;
  private readonly remoteKeys: ReturnType<typeof createRemoteJWKSet> | undefined;
  private readonly verifyOptions: JWTVerifyOptions;
  private readonly maxTokenBytes: number;
  private readonly symmetric: boolean;

  private constructor(private readonly options: JwtVerifierOptions) {
    const algorithms = [...(options.algorithms ?? DEFAULT_JWT_ALGORITHMS)];
    if (algorithms.length === 0) throw new Error("JWT algorithms must not be empty");
    for (const alg of algorithms) {
      if (alg.toLowerCase() === "none") throw new Error('JWT algorithm "none" is never accepted');
      if (!ASYMMETRIC.has(alg) && !SYMMETRIC.has(alg)) throw new Error(`JWT algorithm "${alg}" is not supported`);
    }
    this.symmetric = algorithms.some((alg) => SYMMETRIC.has(alg));
    if (options.jwksFile === undefined && options.jwksUrl === undefined) throw new Error("JWT verification needs a JWKS file or a JWKS URL");
    if (this.symmetric && options.jwksUrl !== undefined) throw new Error("JWT HS* algorithms are only accepted with a JWKS file, never from a JWKS URL");
    const issuers = typeof options.issuer === "string" ? [options.issuer] : [...options.issuer];
    const audiences = typeof options.audience === "string" ? [options.audience] : [...options.audience];
    if (issuers.length === 0 || issuers.some((i) => i.length === 0)) throw new Error("JWT issuer must be set");
    if (audiences.length === 0 || audiences.some((a) => a.length === 0)) throw new Error("JWT audience must be set");
    this.maxTokenBytes = bounded("maxTokenBytes", options.maxTokenBytes, 8192, 64, 65_536);
    this.verifyOptions = {
      issuer: issuers,
      audience: audiences,
      algorithms,
      clockTolerance: bounded("clockToleranceSec", options.clockToleranceSec, 30, 0, 300),
      requiredClaims: ["exp", "sub"],
    };
    if (options.jwksUrl !== undefined) {
      this.remoteKeys = createRemoteJWKSet(remoteUrl(options.jwksUrl), {
        timeoutDuration: bounded("jwksTimeoutMs", options.jwksTimeoutMs, 5_000, 1, 30_000),
        cooldownDuration: bounded("jwksCooldownMs", options.jwksCooldownMs, 30_000, 0, 3_600_000),
        cacheMaxAge: bounded("jwksCacheMaxAgeMs", options.jwksCacheMaxAgeMs, 600_000, 1_000, 86_400_000),
      });
    }
  }

  /** Checks the options and loads the JWKS file (throws naming the problem). The URL is fetched on first use. */
  static async create(options: JwtVerifierOptions): Promise<JwtVerifier> {
    const verifier = new JwtVerifier(options);
    if (options.jwksFile !== undefined) {
      const outcome = await verifier.reload();
      if (outcome.type === "rejected") throw new Error(outcome.error);
    }
    return verifier;
  }

  /** Re-reads the JWKS file; on any problem keeps the keys it had. Never throws. */
  async reload(): Promise<JwksReloadOutcome> {
    const file = this.options.jwksFile;
    if (file === undefined) return { type: "unchanged" };
    try {
      const maxBytes = this.options.maxJwksFileBytes ?? 1024 * 1024;
      if ((await stat(file)).size > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
      const text = await readFile(file, "utf8");
      if (text === this.localJson) return { type: "unchanged" };
      const jwks = parseJwks(text, this.symmetric);
      const asymmetric = jwks.keys.filter((k) => k.kty !== "oct");
      const secrets = new Map<string | undefined, Uint8Array>();
      for (const k of jwks.keys) if (k.kty === "oct") secrets.set(k.kid, Buffer.from(String(k.k ?? ""), "base64url"));
      this.localKeys = asymmetric.length > 0 ? createLocalJWKSet({ keys: asymmetric }) : undefined;
      this.secrets = secrets;
      this.localJson = text;
      return { type: "reloaded", keyCount: jwks.keys.length };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      return { type: "rejected", error: `JWKS file ${file}: ${code ?? (error as Error).message}` };
    }
  }

  /**
   * Verifies the `authorization` header value(s) and returns the token's subject,
   * or throws AuthError (KEYS_UNAVAILABLE when the JWKS URL cannot be read).
   */
  async verify(authorization: string | readonly string[] | undefined): Promise<VerifiedToken> {
    const token = this.bearerToken(authorization);
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.resolveKey, this.verifyOptions));
    } catch (error) {
      throw toAuthError(error);
    }
    const sub = payload.sub;
    if (typeof sub !== "string" || !isAcceptablePrincipal(sub)) {
      throw new AuthError(AuthReason.TOKEN_INVALID, "token sub must be 1-512 printable ASCII characters (and not \"anonymous\")");
    }
    return { subject: sub };
  }

  private bearerToken(authorization: string | readonly string[] | undefined): string {
    const values = authorization === undefined ? [] : typeof authorization === "string" ? [authorization] : authorization;
    if (values.length === 0 || values[0] === "") throw new AuthError(AuthReason.CREDENTIALS_MISSING, "authorization: a bearer token is required");
    if (values.length > 1) throw new AuthError(AuthReason.TOKEN_INVALID, "authorization: only one value is allowed");
    const value = values[0]!;
    if (value.length > this.maxTokenBytes + 16) throw new AuthError(AuthReason.TOKEN_INVALID, `authorization: token longer than ${this.maxTokenBytes} bytes`);
    const match = BEARER.exec(value);
    if (!match) throw new AuthError(AuthReason.TOKEN_INVALID, "authorization: expected \"Bearer <JWT>\"");
    return match[1]!;
  }

  private readonly resolveKey: JWTVerifyGetKey = async (header, token) => {
    if (header.alg.startsWith("HS")) {
      // Only reached when an HS* algorithm is configured (jose checks `algorithms` first).
      const secret = this.secrets.get(header.kid) ?? (this.secrets.size === 1 && header.kid === undefined ? [...this.secrets.values()][0] : undefined);
      if (!secret) throw new errors.JWKSNoMatchingKey();
      return secret;
    }
    if (this.localKeys) {
      try {
        return await this.localKeys(header, token);
      } catch (error) {
        if (!this.remoteKeys || !(error instanceof errors.JWKSNoMatchingKey)) throw error;
      }
    }
    if (!this.remoteKeys) throw new errors.JWKSNoMatchingKey();
    try {
      return await this.remoteKeys(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      throw new KeysUnavailable();
    }
  };
}

function remoteUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error("JWKS URL is not a URL");
  }
  const loopback = url.hostname === "localhost" || url.hostname === "127.0.0.1" || url.hostname === "[::1]";
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) throw new Error("JWKS URL must be https (http only to a loopback host)");
  return url;
}

function parseJwks(text: string, symmetricAllowed: boolean): JSONWebKeySet {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error("not JSON");
  }
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new Error('expected { "keys": [ … ] } with at least one key');
  keys.forEach((key: unknown, i) => {
    if (!key || typeof key !== "object") throw new Error(`keys[${i}] is not an object`);
    const k = key as Record<string, unknown>;
    if (k.kty === "oct") {
      if (!symmetricAllowed) throw new Error(`keys[${i}] is a symmetric (oct) key but no HS* algorithm is configured`);
      if (typeof k.k !== "string" || Buffer.from(k.k, "base64url").length < 32) throw new Error(`keys[${i}] is a symmetric key shorter than 32 bytes`);
    } else if ("d" in k) {
      throw new Error(`keys[${i}] holds private key material; a verifier needs public keys only`);
    }
  });
  return value as JSONWebKeySet;
}

function toAuthError(error: unknown): AuthError {
  if (error instanceof KeysUnavailable) return new AuthError(AuthReason.KEYS_UNAVAILABLE, "token keys are unavailable; retry later");
  if (error instanceof errors.JWTExpired) return new AuthError(AuthReason.TOKEN_EXPIRED, "token expired");
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === "missing") return new AuthError(AuthReason.TOKEN_INVALID, `token has no ${error.claim} claim`);
    switch (error.claim) {
      case "aud":
        return new AuthError(AuthReason.TOKEN_AUDIENCE, "token audience does not include this service");
      case "iss":
        return new AuthError(AuthReason.TOKEN_ISSUER, "token issuer is not trusted");
      case "nbf":
        return new AuthError(AuthReason.TOKEN_NOT_YET_VALID, "token is not valid yet");
      default:
        return new AuthError(AuthReason.TOKEN_INVALID, `token claim ${error.claim} is invalid`);
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return new AuthError(AuthReason.TOKEN_INVALID, "token algorithm is not accepted");
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return new AuthError(AuthReason.TOKEN_INVALID, "token signature does not verify");
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return new AuthError(AuthReason.TOKEN_INVALID, "no trusted key matches the token");
  }
  return new AuthError(AuthReason.TOKEN_INVALID, "token is malformed");
}
