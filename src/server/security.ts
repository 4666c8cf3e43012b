/**
 * The service's security parts, built once at start from SecurityConfig:
 * the reloadable TLS material, the authenticator (mTLS, JWT or open), the
 * authorization policy, and the rate and concurrency limiters. A bad policy
 * or unreadable certificate stops the start with a message naming it.
 */
import type { Logger } from "pino";
import { createAuthenticator, resolveAuthMode, type Authenticator, type AuthMode } from "../auth/authenticate.js";
import { ConcurrencyLimiter } from "../auth/concurrency.js";
import { JwtVerifier } from "../auth/jwt.js";
import { loadPolicyFile, type Policy } from "../auth/policy.js";
import { RateLimiter } from "../auth/rate-limit.js";
import { ReloadableTls, watchSighup } from "../auth/tls.js";
import type { SecurityConfig } from "../lib/config-security.js";

export interface Security {
  mode: AuthMode;
  /** The server's TLS material, when TLS_CERT_FILE is set (both ports serve TLS). */
  tls: ReloadableTls | undefined;
  authenticator: Authenticator;
  /** The authorization policy, when AUTHZ_POLICY_FILE is set (deny by default); undefined: every call is allowed. */
  policy: Policy | undefined;
  rate: RateLimiter;
  concurrency: ConcurrencyLimiter;
  /** A loud warning while nobody is authenticated (logged at start and on the first health report). */
  openWarning: string | undefined;
  /** Stops watching files and signals. */
  close(): void;
}

export const OPEN_MODE_WARNING =
  "AUTHENTICATION IS OFF: every caller is `anonymous` and may call every method, mint money and erase users. " +
  "Set TLS_CLIENT_CA_FILE (mTLS) or JWT_JWKS_FILE/JWT_JWKS_URL, and AUTHZ_POLICY_FILE, before exposing this port.";

export async function createSecurity(config: SecurityConfig, logger: Logger): Promise<Security> {
  const jwtConfigured = config.jwt.jwksFile !== "" || config.jwt.jwksUrl !== "";
  const mode = resolveAuthMode({
    nodeEnv: config.nodeEnv,
    authMode: config.authMode === "" ? undefined : config.authMode,
    clientCaConfigured: config.tlsClientCaFile !== "",
    jwtConfigured,
  });
  if (config.nodeEnv === "production" && mode !== "open" && config.authzPolicyFile === "" && config.authMode !== "insecure") {
    // Authenticated but unauthorized: every caller holding a certificate or token could mint money and erase users.
    throw new Error(
      "no authorization policy is configured: set AUTHZ_POLICY_FILE (docs/SECURITY.md); without one every authenticated caller " +
        "may call every method and mint money. With NODE_ENV=production, running without one needs AUTH_MODE=insecure set explicitly",
    );
  }
  const jwt = jwtConfigured
    ? await JwtVerifier.create({
        issuer: config.jwt.issuer,
        audience: config.jwt.audience,
        jwksFile: config.jwt.jwksFile || undefined,
        jwksUrl: config.jwt.jwksUrl || undefined,
        algorithms: config.jwt.algorithms,
        clockToleranceSec: config.jwt.clockToleranceSeconds,
      })
    : undefined;
  const tls =
    config.tlsCertFile === ""
      ? undefined
      : await ReloadableTls.load({
          certFile: config.tlsCertFile,
          keyFile: config.tlsKeyFile,
          clientCaFile: config.tlsClientCaFile || undefined,
          onEvent: (event) =>
            event.type === "rejected" || event.type === "apply_failed"
              ? logger.error({ tls: event }, "new TLS material refused; still serving the previous one")
              : logger.info({ tls: event }, "TLS material"),
        });
  const policy = config.authzPolicyFile === "" ? undefined : await loadPolicyFile(config.authzPolicyFile);
  const stopSighup = watchSighup(async () => {
    await tls?.reload("sighup");
    const keys = await jwt?.reload();
    if (keys) logger.info({ jwks: keys }, "JWKS reloaded");
  });
  const openWarning = mode === "open" ? OPEN_MODE_WARNING : undefined;
  if (openWarning) logger.warn({ authMode: mode }, openWarning);
  logger.info({ authMode: mode, tls: tls !== undefined, policy: policy !== undefined }, "caller security");
  return {
    mode,
    tls,
    authenticator: createAuthenticator({ mode, jwt }),
    policy,
    rate: new RateLimiter({
      write: { ratePerSec: config.rateLimits.write.perSecond, burst: config.rateLimits.write.burst || undefined },
      read: { ratePerSec: config.rateLimits.read.perSecond, burst: config.rateLimits.read.burst || undefined },
    }),
    concurrency: new ConcurrencyLimiter({ maxConcurrent: config.maxConcurrentCalls, maxPerPrincipal: config.maxConcurrentCallsPerPrincipal }),
    openWarning,
    close() {
      stopSighup();
      tls?.close();
    },
  };
}
