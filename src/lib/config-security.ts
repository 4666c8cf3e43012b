/**
 * The security settings: who may call (TLS client certificates, JWT bearer
 * tokens, or nobody checked), what each caller may do (the authorization
 * policy), and how much (rate and concurrency limits). Read once at start;
 * the files they name (certificates, keys, JWKS) are re-read on SIGHUP.
 */
import { intFromEnv, type Env } from "./env.js";

export interface RateLimitSetting {
  /** Calls per second per principal; 0 turns the limit off. */
  perSecond: number;
  /** Calls a principal may make at once after a quiet spell. */
  burst: number;
}

export interface SecurityConfig {
  /** `TLS_CERT_FILE` / `TLS_KEY_FILE`: the server's certificate and key (PEM); both or neither. Default: plaintext. */
  tlsCertFile: string;
  tlsKeyFile: string;
  /** `TLS_CLIENT_CA_FILE`: CA bundle that client certificates must chain to; setting it turns on mTLS (needs TLS_CERT_FILE). */
  tlsClientCaFile: string;
  /** JWT bearer tokens: on when `jwksFile` or `jwksUrl` is set. */
  jwt: {
    /** `JWT_ISSUER`: the accepted `iss` (required with JWT). */
    issuer: string;
    /** `JWT_AUDIENCE`: the `aud` a token must name (required with JWT). */
    audience: string;
    /** `JWT_JWKS_FILE`: the issuer's public keys, re-read on SIGHUP. */
    jwksFile: string;
    /** `JWT_JWKS_URL`: https URL of the issuer's JWKS, cached. */
    jwksUrl: string;
    /** `JWT_ALGORITHMS`: accepted algorithms. Default RS256, ES256, EdDSA. */
    algorithms: string[];
    /** `JWT_CLOCK_TOLERANCE_SECONDS`: leeway on exp and nbf. Default 30. */
    clockToleranceSeconds: number;
  };
  /** `AUTH_MODE`: empty, or `insecure` to accept running with no authentication under NODE_ENV=production. */
  authMode: string;
  /** `NODE_ENV`: `production` refuses to run open, or with a privileged database role. */
  nodeEnv: string;
  /** `AUTHZ_POLICY_FILE`: the authorization policy (gRFC A43 JSON + debit grants). Default: none, every call allowed. */
  authzPolicyFile: string;
  /** Per-principal token buckets by kind of call (mutations, everything else). Health and reflection are not limited. */
  rateLimits: { write: RateLimitSetting; read: RateLimitSetting };
  /** `MAX_CONCURRENT_CALLS`: calls in flight across all callers (0: no cap). Default 1024. */
  maxConcurrentCalls: number;
  /** `MAX_CONCURRENT_CALLS_PER_PRINCIPAL`: calls in flight for one principal (0: no cap). Default 512, so one caller cannot take them all. */
  maxConcurrentCallsPerPrincipal: number;
}

/** The rate limiter's own bound on rates and bursts (src/auth/rate-limit.ts): checked here, so the error names the variable. */
const MAX_RATE_LIMIT = 1_000_000;

function rateFromEnv(env: Env, group: "WRITE" | "READ", perSecond: number): RateLimitSetting {
  const rate = intFromEnv(env, `RATE_LIMIT_${group}_PER_SECOND`, perSecond, 0, MAX_RATE_LIMIT);
  return { perSecond: rate, burst: intFromEnv(env, `RATE_LIMIT_${group}_BURST`, Math.min(rate * 2, MAX_RATE_LIMIT), 0, MAX_RATE_LIMIT) };
}

export function loadSecurityConfig(env: Env): SecurityConfig {
  const tlsCertFile = env.TLS_CERT_FILE ?? "";
  const tlsKeyFile = env.TLS_KEY_FILE ?? "";
  const tlsClientCaFile = env.TLS_CLIENT_CA_FILE ?? "";
  if ((tlsCertFile === "") !== (tlsKeyFile === "")) throw new Error("TLS_CERT_FILE and TLS_KEY_FILE must be set together");
  if (tlsClientCaFile !== "" && tlsCertFile === "") throw new Error("TLS_CLIENT_CA_FILE needs TLS_CERT_FILE and TLS_KEY_FILE (mTLS is served over TLS)");
  const jwksFile = env.JWT_JWKS_FILE ?? "";
  const jwksUrl = env.JWT_JWKS_URL ?? "";
  const issuer = env.JWT_ISSUER ?? "";
  const audience = env.JWT_AUDIENCE ?? "";
  if ((jwksFile !== "" || jwksUrl !== "") && (issuer === "" || audience === "")) {
    throw new Error("JWT_ISSUER and JWT_AUDIENCE are required with JWT_JWKS_FILE or JWT_JWKS_URL");
  }
  const algorithms = (env.JWT_ALGORITHMS ?? "").split(",").map((a) => a.trim()).filter((a) => a !== "");
  return {
    tlsCertFile,
    tlsKeyFile,
    tlsClientCaFile,
    jwt: {
      issuer,
      audience,
      jwksFile,
      jwksUrl,
      algorithms: algorithms.length > 0 ? algorithms : ["RS256", "ES256", "EdDSA"],
      clockToleranceSeconds: intFromEnv(env, "JWT_CLOCK_TOLERANCE_SECONDS", 30, 0, 300), // JwtVerifier's own bound
    },
    authMode: env.AUTH_MODE ?? "",
    nodeEnv: env.NODE_ENV ?? "",
    authzPolicyFile: env.AUTHZ_POLICY_FILE ?? "",
    rateLimits: { write: rateFromEnv(env, "WRITE", 5_000), read: rateFromEnv(env, "READ", 20_000) },
    maxConcurrentCalls: intFromEnv(env, "MAX_CONCURRENT_CALLS", 1024, 0, 1_000_000),
    maxConcurrentCallsPerPrincipal: intFromEnv(env, "MAX_CONCURRENT_CALLS_PER_PRINCIPAL", 512, 0, 1_000_000),
  };
}
