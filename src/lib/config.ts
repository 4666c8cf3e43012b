/**
 * Every tunable of the service, read once from the environment at start-up.
 *
 * Each value has a documented default chosen for a 2-core box serving other
 * services over gRPC; README.md lists them all. Parsing is strict: a value
 * that is set but malformed stops the process with a message naming the
 * variable, rather than silently falling back to a default.
 */

export type DatabaseMode = "embedded" | "direct" | "accelerate";

export interface Config {
  /** Interface the gRPC and Connect servers bind to. Default `0.0.0.0`. */
  host: string;
  /** Cleartext HTTP/2 gRPC port (grpc-js). Default 50051, the gRPC convention. */
  grpcPort: number;
  /**
   * Connect + gRPC-Web (+ gRPC) port served by connect-node over HTTP/1.1 and
   * h2c, for curl and browsers. Default 8080. 0 picks a free port; -1 disables.
   */
  connectPort: number;
  /** `DATABASE_URL`; empty means the embedded PostgreSQL. */
  databaseUrl: string;
  /** `DIRECT_DATABASE_URL`: the URL migrations use when `DATABASE_URL` is an Accelerate one. */
  directDatabaseUrl: string;
  databaseMode: DatabaseMode;
  /** Folder of the embedded PostgreSQL cluster. Default `.data/postgres` (git-ignored). */
  embeddedDataDir: string;
  /** Port of the embedded PostgreSQL. Default 54329, away from a system server on 5432. */
  embeddedPort: number;
  /** Upper bound of the pg pool (direct mode). Default 10: 2 cores saturate well before that. */
  dbPoolMax: number;
  /** Server-side statement timeout. Default 10000 ms, Accelerate's query limit. */
  dbStatementTimeoutMs: number;
  /** Interactive transaction timeout. Default 15000 ms, Accelerate's limit. */
  dbTransactionTimeoutMs: number;
  /** How long a caller may wait for a pool connection / transaction start. Default 5000 ms. */
  dbTransactionMaxWaitMs: number;
  /** Apply pending migrations before serving (true) or refuse to serve (false). Default true. */
  migrateOnStart: boolean;
  /** Largest request message accepted, in bytes. Default 1 MiB; larger gets RESOURCE_EXHAUSTED. */
  maxReceiveMessageBytes: number;
  /** Largest response message sent, in bytes. Default 4 MiB (under Accelerate's 5 MB response cap). */
  maxSendMessageBytes: number;
  /** Deadline applied when a client sends none, and the cap on any client deadline. Default 30000 ms. */
  maxDeadlineMs: number;
  /** Concurrent HTTP/2 streams per client connection. Default 1000: ample for 64-in-flight load, bounded against abuse. */
  maxConcurrentStreams: number;
  /** HTTP/2 keepalive ping interval. Default 30000 ms, to notice dead peers behind NATs. */
  keepaliveTimeMs: number;
  /** How long a keepalive ping may go unanswered. Default 10000 ms. */
  keepaliveTimeoutMs: number;
  /** How long graceful shutdown waits for in-flight calls before cancelling them. Default 10000 ms. */
  shutdownDrainMs: number;
  /** How often health re-checks the database. Default 2000 ms. */
  healthCheckIntervalMs: number;
  /** Attempts per transaction on serialization failures/deadlocks (first included). Default 8. */
  dbMaxAttempts: number;
  /** How often pending holds past their time are expired. Default 250 ms: the bound on the expiry-to-release delay. */
  holdExpiryIntervalMs: number;
  /**
   * Longest gap between expiry probes while no hold is due. Default 2000 ms.
   * Not a delay bound: the job sleeps until the next pending hold's expiry,
   * and a new hold wakes it. Over Accelerate every probe is a billed query.
   */
  holdExpiryIdleIntervalMs: number;
  /** Most holds one expiry pass releases (one transaction). Default 500. */
  holdExpiryBatch: number;
  /** How long idempotency keys (and their replies) are kept. Default 168 h (7 days); at least 24. */
  idempotencyKeyRetentionHours: number;
  /** Most transfers committed in one transaction (group commit). Default 64; 1 turns grouping off. */
  transferGroupMax: number;
  /** Transfer groups in the database at once. Default 2. */
  transferGroupConcurrency: number;
  /** How often the sealer chains newly committed audit events. Default 100 ms (the seal-delay target is well under 1 s). */
  auditSealIntervalMs: number;
  /**
   * Longest gap between sealer probes while nothing waits. Default 2000 ms.
   * Writes on this instance wake the sealer, so their seal delay stays at
   * AUDIT_SEAL_INTERVAL_MS; this bounds it for events nobody here announced.
   */
  auditSealIdleIntervalMs: number;
  /** Most events sealed per sealer transaction. Default 1000. */
  auditSealBatch: number;
  /** Currency of the default wallet opened with every new user. Default AEV, the ΛΞVON token. */
  defaultWalletCurrency: string;
  /**
   * How long each kind of cacheable read may be served from Accelerate's
   * cache (src/store/cache-policy.ts has the table). Seconds; a ttl of 0
   * turns that kind off.
   */
  cacheLifetimes: CacheLifetimes;
  /** Bound on the cache invalidation after a write (all its calls). Default 2000 ms. */
  cacheInvalidateTimeoutMs: number;
  /**
   * Age past which no open transaction can still write history stamped
   * before it: max(60 s, 2 × the transaction timeout). Settled history may be
   * cached for good, and the audit sealer waits this long for late commits.
   */
  settleHorizonMs: number;
  /** pino level. Default `info`. */
  logLevel: string;
}

type Env = Record<string, string | undefined>;

/** A cache lifetime: fresh for `ttlSeconds`, then served stale for `swrSeconds` while it is refreshed. */
export interface CacheLifetime {
  ttlSeconds: number;
  swrSeconds: number;
}

/** Lifetimes of cached reads by kind (src/store/cache-policy.ts says which read is which kind). */
export interface CacheLifetimes {
  /** User profiles (EVENTUAL). Default 60 s + 60 s: profiles change rarely, and every change invalidates. */
  profile: CacheLifetime;
  /** Accounts and current balances (EVENTUAL). Default 1 s + 1 s: transfers do not invalidate, so it stays short. */
  balance: CacheLifetime;
  /** Transfers by id (EVENTUAL). Default 60 s + 60 s: immutable but for reversals, which invalidate. */
  transfer: CacheLifetime;
  /** Currencies. Default 300 s + 3600 s: they change only by migration. */
  reference: CacheLifetime;
  /** Settled history (balances as of a time, closed entry pages). Default 86400 s + 0: it cannot change. */
  final: CacheLifetime;
}

const DAY_SECONDS = 86_400;

function lifetimeFromEnv(env: Env, kind: string, ttlSeconds: number, swrSeconds: number) {
  return {
    ttlSeconds: intFromEnv(env, `CACHE_${kind}_TTL_SECONDS`, ttlSeconds, 0, 30 * DAY_SECONDS),
    swrSeconds: intFromEnv(env, `CACHE_${kind}_SWR_SECONDS`, swrSeconds, 0, 30 * DAY_SECONDS),
  };
}

function intFromEnv(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^-?\d+$/.test(raw)) throw new Error(`${name} must be an integer, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new Error(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function boolFromEnv(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new Error(`${name} must be true or false, got "${raw}"`);
}

export function databaseModeOf(url: string): DatabaseMode {
  if (url === "") return "embedded";
  if (/^postgres(ql)?:\/\//i.test(url)) return "direct";
  if (/^prisma(\+postgres)?:\/\//i.test(url)) return "accelerate";
  // Never echo the URL: it may carry a password or an API key.
  throw new Error("DATABASE_URL must start with postgres://, postgresql://, prisma:// or prisma+postgres://");
}

export function loadConfig(env: Env = process.env): Config {
  const databaseUrl = env.DATABASE_URL ?? "";
  const databaseMode = databaseModeOf(databaseUrl);
  const directDatabaseUrl = env.DIRECT_DATABASE_URL ?? "";
  if (directDatabaseUrl !== "" && databaseModeOf(directDatabaseUrl) !== "direct") {
    throw new Error("DIRECT_DATABASE_URL must be a postgres:// or postgresql:// URL");
  }
  const MINUTE_MS = 60_000;
  const dbTransactionTimeoutMs = intFromEnv(env, "DB_TRANSACTION_TIMEOUT_MS", 15_000, 100, 10 * MINUTE_MS);
  return {
    host: env.HOST || "0.0.0.0",
    grpcPort: intFromEnv(env, "PORT", 50051, 0, 65535),
    connectPort: intFromEnv(env, "CONNECT_PORT", 8080, -1, 65535),
    databaseUrl,
    directDatabaseUrl,
    databaseMode,
    embeddedDataDir: env.EMBEDDED_PG_DATA_DIR || ".data/postgres",
    embeddedPort: intFromEnv(env, "EMBEDDED_PG_PORT", 54329, 1, 65535),
    dbPoolMax: intFromEnv(env, "DB_POOL_MAX", 10, 1, 1000),
    dbStatementTimeoutMs: intFromEnv(env, "DB_STATEMENT_TIMEOUT_MS", 10_000, 0, 10 * MINUTE_MS),
    dbTransactionTimeoutMs,
    dbTransactionMaxWaitMs: intFromEnv(env, "DB_TRANSACTION_MAX_WAIT_MS", 5_000, 10, MINUTE_MS),
    migrateOnStart: boolFromEnv(env, "MIGRATE_ON_START", true),
    maxReceiveMessageBytes: intFromEnv(env, "MAX_RECEIVE_MESSAGE_BYTES", 1024 * 1024, 1024, 64 * 1024 * 1024),
    maxSendMessageBytes: intFromEnv(env, "MAX_SEND_MESSAGE_BYTES", 4 * 1024 * 1024, 1024, 64 * 1024 * 1024),
    maxDeadlineMs: intFromEnv(env, "MAX_DEADLINE_MS", 30_000, 100, 10 * MINUTE_MS),
    maxConcurrentStreams: intFromEnv(env, "GRPC_MAX_CONCURRENT_STREAMS", 1000, 1, 100_000),
    keepaliveTimeMs: intFromEnv(env, "KEEPALIVE_TIME_MS", 30_000, 1_000, 60 * MINUTE_MS),
    keepaliveTimeoutMs: intFromEnv(env, "KEEPALIVE_TIMEOUT_MS", 10_000, 1_000, 10 * MINUTE_MS),
    shutdownDrainMs: intFromEnv(env, "SHUTDOWN_DRAIN_MS", 10_000, 0, 10 * MINUTE_MS),
    healthCheckIntervalMs: intFromEnv(env, "HEALTH_CHECK_INTERVAL_MS", 2_000, 100, 10 * MINUTE_MS),
    dbMaxAttempts: intFromEnv(env, "DB_MAX_ATTEMPTS", 8, 1, 100),
    holdExpiryIntervalMs: intFromEnv(env, "HOLD_EXPIRY_INTERVAL_MS", 250, 10, 10 * MINUTE_MS),
    holdExpiryIdleIntervalMs: intFromEnv(env, "HOLD_EXPIRY_IDLE_INTERVAL_MS", 2_000, 10, 10 * MINUTE_MS),
    holdExpiryBatch: intFromEnv(env, "HOLD_EXPIRY_BATCH", 500, 1, 10_000),
    idempotencyKeyRetentionHours: intFromEnv(env, "IDEMPOTENCY_KEY_RETENTION_HOURS", 168, 24, 24 * 365),
    transferGroupMax: intFromEnv(env, "TRANSFER_GROUP_MAX", 64, 1, 1000),
    transferGroupConcurrency: intFromEnv(env, "TRANSFER_GROUP_CONCURRENCY", 2, 1, 64),
    auditSealIntervalMs: intFromEnv(env, "AUDIT_SEAL_INTERVAL_MS", 100, 10, MINUTE_MS),
    auditSealIdleIntervalMs: intFromEnv(env, "AUDIT_SEAL_IDLE_INTERVAL_MS", 2_000, 10, 10 * MINUTE_MS),
    auditSealBatch: intFromEnv(env, "AUDIT_SEAL_BATCH", 1000, 1, 100_000),
    defaultWalletCurrency: env.DEFAULT_WALLET_CURRENCY || "AEV",
    cacheLifetimes: {
      profile: lifetimeFromEnv(env, "PROFILE", 60, 60),
      balance: lifetimeFromEnv(env, "BALANCE", 1, 1),
      transfer: lifetimeFromEnv(env, "TRANSFER", 60, 60),
      reference: lifetimeFromEnv(env, "REFERENCE", 300, 3600),
      final: lifetimeFromEnv(env, "FINAL", DAY_SECONDS, 0),
    },
    cacheInvalidateTimeoutMs: intFromEnv(env, "CACHE_INVALIDATE_TIMEOUT_MS", 2_000, 10, MINUTE_MS),
    settleHorizonMs: Math.max(MINUTE_MS, 2 * dbTransactionTimeoutMs),
    logLevel: env.LOG_LEVEL || "info",
  };
}
