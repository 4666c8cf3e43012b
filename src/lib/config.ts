/**
 * Every tunable of the service, read once from the environment at start-up.
 *
 * Each value has a documented default chosen for a 2-core box serving other
 * services over gRPC; README.md lists them all. Parsing is strict: a value
 * that is set but malformed stops the process with a message naming the
 * variable, rather than silently falling back to a default.
 */

import { loadSecurityConfig, type SecurityConfig } from "./config-security.js";
import { loadTransportGuards, type TransportGuards } from "./config-transport.js";
import { loadWorkerConfig } from "./config-workers.js";
import { boolFromEnv, choiceFromEnv, intFromEnv, type Env } from "./env.js";

export type DatabaseMode = "embedded" | "direct" | "accelerate";

/** pino's levels, and `silent`. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

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
  /**
   * `MIGRATION_DATABASE_URL`: the tables' owner, which runs migrations and
   * grants the service's role its privileges. Falls back to
   * `DIRECT_DATABASE_URL`, then `DATABASE_URL` (one role for both: warned).
   */
  migrationDatabaseUrl: string;
  databaseMode: DatabaseMode;
  /** Folder of the embedded PostgreSQL cluster. Default `.data/postgres` (git-ignored). */
  embeddedDataDir: string;
  /** Port of the embedded PostgreSQL. Default 54329, away from a system server on 5432. */
  embeddedPort: number;
  /**
   * Upper bound of the pg pool (direct mode), for all workers together: each
   * worker gets an even share (config-workers.ts). Default 10 with one worker
   * (2 cores saturate well before that), else 4 per worker between 10 and 80,
   * so that the default fits PostgreSQL's usual `max_connections` of 100.
   */
  dbPoolMax: number;
  /**
   * `WORKERS`: processes serving the same two ports (node:cluster), 1..64.
   * Default: the cores this process may use (`os.availableParallelism()`),
   * since one Node.js process serves calls on one core; never more than an
   * explicit `DB_POOL_MAX`. 1 runs the service in one process, as before.
   */
  workers: number;
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
  /**
   * Most transfers waiting for a group; more are refused at once (UNAVAILABLE,
   * OVERLOADED, with a retry delay). Default 1024: sixteen full groups, a
   * burst is absorbed, a flood is not queued.
   */
  transferQueueMax: number;
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
  /**
   * `METRICS_PORT`: Prometheus text exposition at `/metrics` over plain HTTP,
   * unauthenticated. Default 9464 (OpenTelemetry's Prometheus exporter port).
   * 0 picks a free port (logged, and on the running server); -1 turns the
   * endpoint off (metrics are then not collected either).
   */
  metricsPort: number;
  /**
   * `METRICS_HOST`: interface the metrics endpoint binds to. Default
   * `127.0.0.1`: the endpoint has no authentication, so it is not reachable
   * from elsewhere unless the operator says so (in a container, `0.0.0.0`
   * and a network policy; docs/SECURITY.md).
   */
  metricsHost: string;
  /** OpenTelemetry tracing (src/server/tracing.ts); off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set. */
  tracing: TracingConfig;
  /** `LOG_LEVEL`: pino level. Default `info`. */
  logLevel: (typeof LOG_LEVELS)[number];
  /** `LOG_PRETTY`: human-readable log lines (needs the dev dependency pino-pretty). Default false: JSON lines. */
  logPretty: boolean;
  /** Authentication, authorization and limits (config-security.ts). */
  security: SecurityConfig;
  /** Guards against abusive HTTP/2 and HTTP/1.1 peers, and the diagnostics line (config-transport.ts). */
  transport: TransportGuards;
}

/** OpenTelemetry traces: exported over OTLP/HTTP when an endpoint is set. */
export interface TracingConfig {
  /**
   * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, which
   * wins), e.g. `http://collector:4318`. Default empty: tracing off, and the
   * SDK is never loaded.
   */
  endpoint: string;
  /** `OTEL_SERVICE_NAME`, the `service.name` of every span. Default `ledger-of-record`. */
  serviceName: string;
}

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
  const migrationDatabaseUrl = env.MIGRATION_DATABASE_URL ?? "";
  if (migrationDatabaseUrl !== "" && databaseModeOf(migrationDatabaseUrl) !== "direct") {
    throw new Error("MIGRATION_DATABASE_URL must be a postgres:// or postgresql:// URL");
  }
  const MINUTE_MS = 60_000;
  const dbTransactionTimeoutMs = intFromEnv(env, "DB_TRANSACTION_TIMEOUT_MS", 15_000, 100, 10 * MINUTE_MS);
  return {
    host: env.HOST || "0.0.0.0",
    grpcPort: intFromEnv(env, "PORT", 50051, 0, 65535),
    connectPort: intFromEnv(env, "CONNECT_PORT", 8080, -1, 65535),
    databaseUrl,
    directDatabaseUrl,
    migrationDatabaseUrl,
    databaseMode,
    embeddedDataDir: env.EMBEDDED_PG_DATA_DIR || ".data/postgres",
    embeddedPort: intFromEnv(env, "EMBEDDED_PG_PORT", 54329, 1, 65535),
    ...loadWorkerConfig(env, databaseMode),
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
    transferQueueMax: intFromEnv(env, "TRANSFER_QUEUE_MAX", 1024, 1, 1_000_000),
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
    metricsPort: intFromEnv(env, "METRICS_PORT", 9464, -1, 65535),
    metricsHost: env.METRICS_HOST || "127.0.0.1",
    tracing: {
      endpoint: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT || "",
      serviceName: env.OTEL_SERVICE_NAME || "ledger-of-record",
    },
    logLevel: choiceFromEnv(env, "LOG_LEVEL", "info", LOG_LEVELS),
    logPretty: boolFromEnv(env, "LOG_PRETTY", false),
    security: loadSecurityConfig(env),
    transport: loadTransportGuards(env),
  };
}
