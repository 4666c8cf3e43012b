/**
 * The service's lifecycle: database (embedded or given), migrations, Prisma
 * Client, both transports, health and reflection, then the background jobs;
 * and taking it apart again in the right order on shutdown (or when a start
 * fails half-way). What is built is in compose.ts.
 */
import { setMaxListeners } from "node:events";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "../db/embedded.js";
import { applyPendingMigrations, listPendingMigrations } from "../db/migrations.js";
import type { Config } from "../lib/config.js";
import { createPrisma, type Db } from "../lib/prisma.js";
import { NO_OBSERVER } from "../domain/observer.js";
import { cacheTag, type CachePolicy } from "../store/cache-policy.js";
import { backgroundJobs, buildCachePolicy, buildDomain, buildServices, wakeJobsOnCommit } from "./compose.js";
import { grantRuntimeRole, loginRoleOf } from "../db/roles.js";
import { Admission } from "./admission.js";
import { grpcGuardOptions } from "../lib/config-transport.js";
import { createConnectServer } from "./connect-server.js";
import { startDiagnostics } from "./diagnostics.js";
import { grpcGate } from "./grpc-gate.js";
import { createSecurity, type Security } from "./security.js";
import { checkAccelerateStatementTimeout, checkRuntimePrivileges, logDatabaseMode } from "./database-mode.js";
import { addService, createGrpcServer } from "./grpc-server.js";
import { addHealth, type HealthMonitor } from "./health.js";
import { startJobs, type Jobs } from "./jobs.js";
import { addReflection } from "./reflection.js";
import { drainGrpc, drainHttp } from "./shutdown.js";
import type { MetricsEndpoint } from "./metrics/endpoint.js";
import type { ServerMetrics } from "./metrics/instruments.js";
import { createProcessMetrics, serveProcessMetrics } from "./metrics/setup.js";

export interface RunningServer {
  /** Bound gRPC port (useful when configured as 0). */
  grpcPort: number;
  /** Bound Connect/gRPC-Web port, or -1 when disabled. */
  connectPort: number;
  /** Bound metrics port (`GET /metrics`), or -1 when this process serves none (METRICS_PORT=-1, or a cluster worker). */
  metricsPort: number;
  /** This process's metrics (its registry), or undefined when METRICS_PORT=-1. */
  metrics?: ServerMetrics;
  db: Db;
  health: HealthMonitor;
  /** Wakes a background job of this process (`Jobs.wake`); nothing when it runs none. */
  wakeJob(name: string, at?: Date): void;
  /** Graceful stop: refuse new calls, drain in-flight ones within the bound, close the pool, stop embedded PG. */
  stop(): Promise<void>;
}

/** Thrown when migrations are pending and MIGRATE_ON_START=false. */
export class PendingMigrationsError extends Error {
  constructor(readonly pending: string[]) {
    super(
      `database has ${pending.length} pending migration(s): ${pending.join(", ")}. ` +
        "Apply them with `npm run migrate:deploy` (in the image: `node dist/scripts/migrate.js deploy`), or start with MIGRATE_ON_START=true.",
    );
  }
}

/** Applies pending migrations (or refuses them); returns the names applied. */
async function prepareSchema(url: string, config: Config, logger: Logger): Promise<string[]> {
  if (config.migrateOnStart) {
    const { applied } = await applyPendingMigrations(url, { logger }).catch((error: unknown) => {
      throw migrationPrivilegeError(error, url, config) ?? error;
    });
    if (applied.length > 0) logger.info({ applied }, "applied pending migrations");
    return applied;
  }
  const pending = await listPendingMigrations(url, { logger });
  if (pending.length > 0) throw new PendingMigrationsError(pending);
  return [];
}

/**
 * A clear message when the role start-up migrates with may not change the
 * schema (a least-privileged role as DATABASE_URL, no MIGRATION_DATABASE_URL);
 * undefined for any other failure.
 */
function migrationPrivilegeError(error: unknown, url: string, config: Config): Error | undefined {
  const message = error instanceof Error ? error.message : String(error);
  if (!/permission denied|must be owner/.test(message)) return undefined;
  const role = loginRoleOf(url) ?? "(unknown)";
  return new Error(
    `MIGRATE_ON_START: the database role ${role} may not apply the pending migrations (${message.split("\n")[0]}). ` +
      (config.migrationDatabaseUrl
        ? "MIGRATION_DATABASE_URL must name the schema's owner. "
        : "Set MIGRATION_DATABASE_URL to the schema owner's URL so start-up migrates as the owner, or apply them first with `npm run migrate:deploy`, or set MIGRATE_ON_START=false. ") +
      'See docs/SECURITY.md "Database roles".',
    { cause: error },
  );
}

/** The database a process serves on: its URL, the migrations just applied, and the embedded server when this process started one. */
export interface PreparedDatabase {
  /** The service's own (runtime) URL. */
  url: string;
  /** Names of the migrations applied at this start (cached currencies must not outlive them). */
  applied: string[];
  /** The embedded PostgreSQL this process started (stopped with it), when DATABASE_URL is unset. */
  embedded?: EmbeddedDatabase;
}

/**
 * Everything before the service proper, done once per instance: starts the
 * embedded PostgreSQL when no DATABASE_URL is set, applies pending
 * migrations (or refuses them), grants the runtime role. In a cluster the
 * primary does this, and its workers only connect (`ServerOptions.database`).
 */
export async function prepareDatabase(config: Config, logger: Logger): Promise<PreparedDatabase> {
  let embedded: EmbeddedDatabase | undefined;
  let url = config.databaseUrl;
  let ownerUrl = config.migrationDatabaseUrl || config.directDatabaseUrl || (config.databaseMode === "direct" ? url : "");
  try {
    if (config.databaseMode === "embedded") {
      embedded = await startEmbeddedPostgres({ dataDir: config.embeddedDataDir, port: config.embeddedPort, logger });
      url = embedded.url;
      ownerUrl = embedded.adminUrl;
    }
    logDatabaseMode(config, logger);
    let applied: string[] = [];
    if (ownerUrl) {
      applied = await prepareSchema(ownerUrl, config, logger);
      await grantToRuntimeRole(ownerUrl, url, config.databaseMode, logger);
    } else {
      logger.warn("DATABASE_URL is an Accelerate URL and neither MIGRATION_DATABASE_URL nor DIRECT_DATABASE_URL is set: migrations are not checked");
    }
    return { url, applied, embedded };
  } catch (error) {
    await embedded?.stop().catch(() => undefined);
    throw error;
  }
}

/** How one process serves; the defaults are the single-process service. */
export interface ServerOptions {
  /**
   * The database another process prepared (a cluster worker's primary):
   * no embedded server, no migrations here. Default: `prepareDatabase` in
   * this process, which then also stops the embedded server on `stop()`.
   */
  database?: PreparedDatabase;
  /** Run the background jobs (hold expiry, audit sealing, key purge) in this process. Default true. */
  runJobs?: boolean;
  /** Where this process's commits send job wake-ups when it does not run the jobs. Default: nowhere. */
  remoteJobs?: Jobs;
  /** `application_name` of the pooled connections (pg_stat_activity). Default: pg's (none). */
  applicationName?: string;
  /**
   * Serve this process's metrics on METRICS_PORT. Default true; a cluster
   * worker passes false (its primary serves the port and asks the workers).
   */
  metricsEndpoint?: boolean;
}

export async function startServer(config: Config, logger: Logger, options: ServerOptions = {}): Promise<RunningServer> {
  // Checked first: a bad certificate or policy stops the start before anything else runs.
  const security = await createSecurity(config.security, logger);
  let prepared: PreparedDatabase | undefined;
  let db: Db | undefined;
  try {
    prepared = options.database ?? (await prepareDatabase(config, logger));
    db = createPrisma({
      url: prepared.url,
      poolMax: config.dbPoolMax,
      statementTimeoutMs: config.dbStatementTimeoutMs,
      transactionTimeoutMs: config.dbTransactionTimeoutMs,
      transactionMaxWaitMs: config.dbTransactionMaxWaitMs,
      applicationName: options.applicationName,
      logger,
    });
    if (config.databaseMode === "accelerate") await checkAccelerateStatementTimeout(db, logger);
    await checkRuntimePrivileges(db, config.security.nodeEnv === "production", logger);
    const cache = buildCachePolicy(db, config, logger);
    // Migrations are the only writers of currencies; cached lists must not outlive them.
    if (prepared.applied.length > 0) await cache.invalidate([cacheTag.currencies()]);
    return await serve(config, logger, db, cache, options.database ? undefined : prepared.embedded, security, options);
  } catch (error) {
    security.close();
    await db?.$disconnect().catch(() => undefined);
    if (!options.database) await prepared?.embedded?.stop().catch(() => undefined);
    throw error;
  }
}

/** Makes the service's login role (when another than the owner's) a member of ledger_runtime; says so when it cannot. */
async function grantToRuntimeRole(ownerUrl: string, runtimeUrl: string, mode: Config["databaseMode"], logger: Logger): Promise<void> {
  if (mode === "accelerate") return; // the role behind Accelerate is granted by `npm run migrate:deploy` or by hand
  const runtime = loginRoleOf(runtimeUrl);
  if (!runtime || runtime === loginRoleOf(ownerUrl)) return;
  const failure = await grantRuntimeRole(ownerUrl, runtime);
  if (failure) logger.warn({ role: runtime }, `${failure}; grant it by hand as the tables' owner`);
}

async function serve(
  config: Config,
  logger: Logger,
  db: Db,
  cache: CachePolicy,
  embedded: EmbeddedDatabase | undefined,
  security: Security,
  options: ServerOptions,
): Promise<RunningServer> {
  const shutdown = new AbortController();
  // Every in-flight call links its own signal to this one and unlinks when it
  // ends, so the listener count tracks in-flight calls: not a leak, no warning.
  setMaxListeners(0, shutdown.signal);
  let jobs: Jobs | undefined;
  const metrics = createProcessMetrics(config, db, options.runJobs !== false, logger);
  const observer = metrics ?? NO_OBSERVER;
  const domain = buildDomain(db, config, logger, cache, wakeJobsOnCommit(() => jobs ?? options.remoteJobs), observer);
  const services = buildServices(domain, logger);

  const grpcServer = createGrpcServer({
    maxReceiveMessageBytes: config.maxReceiveMessageBytes,
    maxSendMessageBytes: config.maxSendMessageBytes,
    keepaliveTimeMs: config.keepaliveTimeMs,
    keepaliveTimeoutMs: config.keepaliveTimeoutMs,
    maxConcurrentStreams: config.maxConcurrentStreams,
    guards: grpcGuardOptions(config.transport),
  });
  const admission = new Admission(security, logger);
  for (const entry of services) {
    addService(grpcServer, entry, { logger, maxDeadlineMs: config.maxDeadlineMs, shutdownSignal: shutdown.signal, admission, metrics, observer });
  }
  const gate = grpcGate(admission);
  addReflection(grpcServer, gate);
  const health = addHealth(
    grpcServer,
    services.map((s) => s.service.typeName),
    () => db.$queryRaw`SELECT 1`,
    { intervalMs: config.healthCheckIntervalMs, logger, gate, firstReportWarning: security.openWarning },
  );
  const connectServer =
    config.connectPort < 0
      ? undefined
      : createConnectServer(services, {
          logger,
          maxReceiveMessageBytes: config.maxReceiveMessageBytes,
          maxSendMessageBytes: config.maxSendMessageBytes,
          maxDeadlineMs: config.maxDeadlineMs,
          shutdownSignal: shutdown.signal,
          admission,
          tls: security.tls,
          guards: config.transport,
          metrics,
          observer,
        });

  let grpcPort: number;
  let connectPort = -1;
  let metricsEndpoint: MetricsEndpoint | undefined;
  try {
    await health.probe();
    grpcPort = await new Promise<number>((resolve, reject) => {
      grpcServer.bindAsync(`${config.host}:${config.grpcPort}`, security.tls?.grpcServerCredentials() ?? grpc.ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolve(port),
      );
    });
    if (connectServer) {
      await new Promise<void>((resolve, reject) => {
        connectServer.once("error", reject);
        connectServer.listen(config.connectPort, config.host, () => resolve());
      });
      connectPort = (connectServer.address() as AddressInfo).port;
    }
    if (metrics && options.metricsEndpoint !== false) metricsEndpoint = await serveProcessMetrics(config, metrics, logger);
    // Only once every port serves: a start that fails leaves nothing running.
    if (options.runJobs !== false) jobs = startJobs(backgroundJobs(domain, config), logger);
  } catch (error) {
    health.stop();
    grpcServer.forceShutdown();
    connectServer?.close();
    await metricsEndpoint?.close();
    throw error; // startServer's caller closes security, the database and the embedded server
  }
  const metricsPort = metricsEndpoint?.port ?? -1;
  logger.info({ grpcPort, connectPort, metricsPort, databaseMode: config.databaseMode }, "serving");
  const diagnostics = startDiagnostics(logger, config.transport.diagnosticsIntervalMs);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info({ drain_ms: config.shutdownDrainMs }, "shutting down");
      health.stop();
      diagnostics.stop();
      await Promise.all([drainGrpc(grpcServer, config.shutdownDrainMs), drainHttp(connectServer, config.shutdownDrainMs)]);
      shutdown.abort();
      await metricsEndpoint?.close();
      await jobs?.stop();
      security.close();
      await db.$disconnect();
      await embedded?.stop();
      logger.info("stopped");
    })());

  const wakeJob = (name: string, at?: Date) => jobs?.wake(name, at);
  return { grpcPort, connectPort, metricsPort, metrics, db, health, wakeJob, stop };
}
