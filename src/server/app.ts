/**
 * Wires the service together: database (embedded or given), migrations,
 * Prisma Client, handlers, both transports, health and reflection; and takes
 * it apart again in the right order on shutdown.
 */
import { setMaxListeners } from "node:events";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "../db/embedded.js";
import { applyPendingMigrations, listPendingMigrations } from "../db/migrations.js";
import { CurrencyService } from "../domain/ledger/currency.js";
import { AuditLog } from "../domain/audit/audit-log.js";
import { Identity } from "../domain/identity/identity.js";
import { Ledger } from "../domain/ledger/ledger.js";
import type { Config } from "../lib/config.js";
import { createPrisma, type Db } from "../lib/prisma.js";
import { implement, type ImplementedService } from "../rpc/implement.js";
import { AuditService, auditServiceImpl } from "../rpc/audit-service.js";
import { IdentityService, identityServiceImpl } from "../rpc/identity-service.js";
import { LedgerService, ledgerServiceImpl } from "../rpc/ledger-service.js";
import { createAuditStore } from "../store/audit-store.js";
import { CachePolicy, cacheTag } from "../store/cache-policy.js";
import { createCurrencyStore } from "../store/currency-store.js";
import { infrastructureErrorOf } from "../store/db-errors.js";
import { createIdentityStore } from "../store/identity-store.js";
import { createLedgerStore } from "../store/ledger-store.js";
import { DEFAULT_RETRY_POLICY, type CommitListener } from "../store/transaction.js";
import { createConnectServer } from "./connect-server.js";
import { checkAccelerateStatementTimeout, logDatabaseMode } from "./database-mode.js";
import { addService, createGrpcServer } from "./grpc-server.js";
import { addHealth, type HealthMonitor } from "./health.js";
import { startJobs, type Jobs } from "./jobs.js";
import { addReflection } from "./reflection.js";

export interface RunningServer {
  /** Bound gRPC port (useful when configured as 0). */
  grpcPort: number;
  /** Bound Connect/gRPC-Web port, or -1 when disabled. */
  connectPort: number;
  db: Db;
  health: HealthMonitor;
  /** Graceful stop: refuse new calls, drain in-flight ones within the bound, close the pool, stop embedded PG. */
  stop(): Promise<void>;
}

/** Thrown when migrations are pending and MIGRATE_ON_START=false. */
export class PendingMigrationsError extends Error {
  constructor(readonly pending: string[]) {
    super(
      `database has ${pending.length} pending migration(s): ${pending.join(", ")}. ` +
        "Apply them with `npm run migrate:deploy` (or start with MIGRATE_ON_START=true).",
    );
  }
}

/** Applies pending migrations (or refuses them); returns the names applied. */
async function prepareSchema(url: string, config: Config, logger: Logger): Promise<string[]> {
  if (config.migrateOnStart) {
    const { applied } = await applyPendingMigrations(url, { logger });
    if (applied.length > 0) logger.info({ applied }, "applied pending migrations");
    return applied;
  }
  const pending = await listPendingMigrations(url, { logger });
  if (pending.length > 0) throw new PendingMigrationsError(pending);
  return [];
}

const EXPIRE_JOB = "expire-holds";
const SEAL_JOB = "seal-audit-events";

export interface Domain {
  currencies: CurrencyService;
  ledger: Ledger;
  identity: Identity;
  audit: AuditLog;
}

export function buildCachePolicy(db: Db, config: Config, logger: Logger): CachePolicy {
  return new CachePolicy(db, {
    active: config.databaseMode === "accelerate",
    lifetimes: config.cacheLifetimes,
    settleHorizonMs: config.settleHorizonMs,
    invalidateTimeoutMs: config.cacheInvalidateTimeoutMs,
    logger,
  });
}

export function buildDomain(
  db: Db,
  config: Config,
  logger: Logger,
  cache: CachePolicy = buildCachePolicy(db, config, logger),
  onCommit?: CommitListener,
): Domain {
  const retry = { ...DEFAULT_RETRY_POLICY, maxAttempts: config.dbMaxAttempts };
  return {
    currencies: new CurrencyService(createCurrencyStore(db, cache)),
    ledger: new Ledger(createLedgerStore(db, { cache, retry, logger, onCommit }), {
      maxSize: config.transferGroupMax,
      maxConcurrent: config.transferGroupConcurrency,
    }),
    identity: new Identity(createIdentityStore(db, { cache, retry, logger, onCommit }), config.defaultWalletCurrency),
    audit: new AuditLog(createAuditStore(db, { retry, logger, sealHorizonMs: config.settleHorizonMs, onCommit })),
  };
}

export function buildServices(domain: Domain, logger: Logger): ImplementedService[] {
  const options = { classify: infrastructureErrorOf };
  return [
    implement(LedgerService, ledgerServiceImpl(domain), logger, options),
    implement(IdentityService, identityServiceImpl(domain.identity), logger, options),
    implement(AuditService, auditServiceImpl(domain.audit), logger, options),
  ];
}

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  let embedded: EmbeddedDatabase | undefined;
  let url = config.databaseUrl;
  if (config.databaseMode === "embedded") {
    embedded = await startEmbeddedPostgres({ dataDir: config.embeddedDataDir, port: config.embeddedPort, logger });
    url = embedded.url;
  }
  let db: Db | undefined;
  try {
    logDatabaseMode(config, logger);
    const migrationUrl = config.databaseMode === "accelerate" ? config.directDatabaseUrl : url;
    let applied: string[] = [];
    if (migrationUrl) {
      applied = await prepareSchema(migrationUrl, config, logger);
    } else {
      logger.warn("DATABASE_URL is an Accelerate URL and DIRECT_DATABASE_URL is unset: migrations are not checked");
    }
    db = createPrisma({
      url,
      poolMax: config.dbPoolMax,
      statementTimeoutMs: config.dbStatementTimeoutMs,
      transactionTimeoutMs: config.dbTransactionTimeoutMs,
      transactionMaxWaitMs: config.dbTransactionMaxWaitMs,
      logger,
    });
    if (config.databaseMode === "accelerate") await checkAccelerateStatementTimeout(db, logger);
    const cache = buildCachePolicy(db, config, logger);
    // Migrations are the only writers of currencies; cached lists must not outlive them.
    if (applied.length > 0) await cache.invalidate([cacheTag.currencies()]);
    return await serve(config, logger, db, cache, embedded);
  } catch (error) {
    await db?.$disconnect().catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    throw error;
  }
}

async function serve(config: Config, logger: Logger, db: Db, cache: CachePolicy, embedded: EmbeddedDatabase | undefined): Promise<RunningServer> {
  const shutdown = new AbortController();
  // Every in-flight call links its own signal to this one and unlinks when it
  // ends, so the listener count tracks in-flight calls: not a leak, no warning.
  setMaxListeners(0, shutdown.signal);
  // Committed writes wake the jobs they give work to, so idle jobs can back off.
  let jobs: Jobs | undefined;
  const onCommit: CommitListener = (facts) => {
    if (facts.auditEvents > 0) jobs?.wake(SEAL_JOB);
    if (facts.earliestHoldExpiry) jobs?.wake(EXPIRE_JOB, facts.earliestHoldExpiry);
  };
  const domain = buildDomain(db, config, logger, cache, onCommit);
  const services = buildServices(domain, logger);
  jobs = startJobs(
    [
      {
        name: EXPIRE_JOB,
        intervalMs: config.holdExpiryIntervalMs,
        idleIntervalMs: config.holdExpiryIdleIntervalMs,
        batch: config.holdExpiryBatch,
        run: async () => {
          const { expired, nextDueAt } = await domain.ledger.expireHolds(config.holdExpiryBatch);
          return { done: expired, nextDueAt };
        },
      },
      {
        name: SEAL_JOB,
        intervalMs: config.auditSealIntervalMs,
        idleIntervalMs: config.auditSealIdleIntervalMs,
        batch: config.auditSealBatch,
        run: () => domain.audit.seal(config.auditSealBatch),
      },
      {
        name: "purge-idempotency-keys",
        intervalMs: 60_000,
        batch: 1000,
        run: () => domain.ledger.purgeIdempotencyKeys(config.idempotencyKeyRetentionHours * 3_600_000, 1000),
      },
    ],
    logger,
  );

  const grpcServer = createGrpcServer({
    maxReceiveMessageBytes: config.maxReceiveMessageBytes,
    maxSendMessageBytes: config.maxSendMessageBytes,
    keepaliveTimeMs: config.keepaliveTimeMs,
    keepaliveTimeoutMs: config.keepaliveTimeoutMs,
    maxConcurrentStreams: config.maxConcurrentStreams,
  });
  for (const entry of services) {
    addService(grpcServer, entry, { logger, maxDeadlineMs: config.maxDeadlineMs, shutdownSignal: shutdown.signal });
  }
  addReflection(grpcServer);
  const health = addHealth(
    grpcServer,
    services.map((s) => s.service.typeName),
    () => db.$queryRaw`SELECT 1`,
    { intervalMs: config.healthCheckIntervalMs, logger },
  );
  await health.probe();

  const grpcPort = await new Promise<number>((resolve, reject) => {
    grpcServer.bindAsync(`${config.host}:${config.grpcPort}`, grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    );
  });

  let connectPort = -1;
  const connectServer =
    config.connectPort < 0
      ? undefined
      : createConnectServer(services, {
          logger,
          maxReceiveMessageBytes: config.maxReceiveMessageBytes,
          maxSendMessageBytes: config.maxSendMessageBytes,
          maxDeadlineMs: config.maxDeadlineMs,
          shutdownSignal: shutdown.signal,
        });
  if (connectServer) {
    await new Promise<void>((resolve, reject) => {
      connectServer.once("error", reject);
      connectServer.listen(config.connectPort, config.host, () => resolve());
    });
    connectPort = (connectServer.address() as AddressInfo).port;
  }
  logger.info({ grpcPort, connectPort, databaseMode: config.databaseMode }, "serving");

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info({ drain_ms: config.shutdownDrainMs }, "shutting down");
      health.stop();
      await Promise.all([drainGrpc(grpcServer, config.shutdownDrainMs), drainHttp(connectServer, config.shutdownDrainMs)]);
      shutdown.abort();
      await jobs.stop();
      await db.$disconnect();
      await embedded?.stop();
      logger.info("stopped");
    })());

  return { grpcPort, connectPort, db, health, stop };
}

function drainGrpc(server: grpc.Server, drainMs: number): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => server.forceShutdown(), drainMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

function drainHttp(server: import("node:http").Server | undefined, drainMs: number): Promise<void> {
  if (!server) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => server.closeAllConnections(), drainMs);
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}
