/**
 * The one place the Prisma Client is configured: nothing else in the
 * service constructs one.
 *
 * Three modes, chosen by the database URL:
 * - accelerate (`prisma://`, `prisma+postgres://`), the production default:
 *   `accelerateUrl`, so Accelerate pools connections and may cache reads.
 * - direct (`postgres://`, and the embedded PostgreSQL): Prisma 7's WASM query
 *   compiler over `@prisma/adapter-pg`, with a bounded `pg` pool. No native
 *   engine binary is involved, so nothing is downloaded at run time.
 *
 * Both carry `withAccelerate()`, so the code above is the same in every mode
 * (`cacheStrategy` on reads, `$accelerate.invalidate` after writes). On a
 * direct client the extension drops `cacheStrategy` and invalidation does
 * nothing: every read goes to PostgreSQL. `cachingIsActive` says which.
 */
import { createHash } from "node:crypto";
import { PrismaPg } from "@prisma/adapter-pg";
import { withAccelerate } from "@prisma/extension-accelerate";
import pg from "pg";
import type { Logger } from "pino";
import { PrismaClient } from "../generated/prisma/client.js";
import { databaseModeOf } from "./config.js";

export interface PrismaOptions {
  /** `postgres://…`, `prisma://…` or `prisma+postgres://…`. */
  url: string;
  /** Upper bound of the pg pool in direct mode. Default 10. */
  poolMax?: number;
  /** Server-side `statement_timeout` for every pooled connection. Default 10000 ms (Accelerate's query limit). */
  statementTimeoutMs?: number;
  /** Interactive transaction timeout. Default 15000 ms (Accelerate's limit). */
  transactionTimeoutMs?: number;
  /** How long `$transaction` waits to start (pool acquisition). Default 5000 ms. */
  transactionMaxWaitMs?: number;
  /** `application_name` of pooled connections in direct mode, shown in pg_stat_activity. Default: none (pg's). */
  applicationName?: string;
  logger?: Logger;
}

/**
 * Names prepared statements after a hash of their SQL text, so each pooled
 * connection parses and plans a given query once and then only binds and
 * executes it. Prisma's query compiler emits a small, stable set of SQL
 * strings, so the memo below stays small; it is still bounded.
 */
const STATEMENT_NAME_CACHE_MAX = 10_000;
const statementNames = new Map<string, string>();
function statementNameFor(sql: string): string {
  let name = statementNames.get(sql);
  if (name === undefined) {
    name = "p_" + createHash("sha1").update(sql).digest("hex").slice(0, 24);
    if (statementNames.size >= STATEMENT_NAME_CACHE_MAX) statementNames.clear();
    statementNames.set(sql, name);
  }
  return name;
}

/** A direct client's pg pool, as the metrics read it (size, idle, waiting). */
export interface PoolStats {
  /** Connections open, idle or in use. */
  total: number;
  /** Connections open and idle. */
  idle: number;
  /** Callers waiting for a connection. */
  waiting: number;
  /** The pool's bound (`poolMax`). */
  max: number;
}

/** The pool of each direct client, for poolStatsOf (Accelerate clients have none here). */
const pools = new WeakMap<object, pg.Pool>();

/**
 * The direct client's pool, built here rather than inside the adapter so its
 * counters can be read (poolStatsOf); the adapter still owns it and ends it
 * on $disconnect.
 *
 * Every pooled connection keeps an `error` listener for its whole life.
 * pg-pool listens only while a connection is idle, and `pool.query` with a
 * one-shot listener (`once`) while it is checked out; a connection whose
 * backend is terminated (pg_terminate_backend, a PostgreSQL restart) can
 * emit `error` when that listener is already spent, or while neither
 * listens, and Node.js turns an `error` nobody listens to into an uncaught
 * exception that ends the process (node-postgres issue #2762; seen here
 * under load on the `SELECT ledger_post_transfers` path:
 * test/reliability/faults.test.ts). The error still reaches the query that
 * meets the dead connection, and the pool drops it on release.
 */
function createPool(options: PrismaOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolMax ?? 10,
    statement_timeout: options.statementTimeoutMs ?? 10_000,
    connectionTimeoutMillis: options.transactionMaxWaitMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    ...(options.applicationName ? { application_name: options.applicationName } : {}),
  });
  pool.on("connect", (client) => {
    client.on("error", (err) => options.logger?.debug({ err }, "database connection failed"));
  });
  return pool;
}

function createDirectClient(options: PrismaOptions) {
  const pool = createPool(options);
  const adapter = new PrismaPg(pool, {
    statementNameGenerator: (query) => statementNameFor(query.sql),
    onPoolError: (err) => options.logger?.warn({ err }, "idle database connection failed"),
    // The pool is this client's alone: $disconnect ends it.
    disposeExternalPool: true,
  });
  return { pool, client: new PrismaClient({
    adapter,
    transactionOptions: {
      timeout: options.transactionTimeoutMs ?? 15_000,
      maxWait: options.transactionMaxWaitMs ?? 5_000,
    },
  }) };
}

function createAccelerateClient(options: PrismaOptions) {
  return new PrismaClient({
    accelerateUrl: options.url,
    transactionOptions: {
      timeout: options.transactionTimeoutMs ?? 15_000,
      maxWait: options.transactionMaxWaitMs ?? 5_000,
    },
  });
}

const accelerated = (client: PrismaClient) => client.$extends(withAccelerate());

/**
 * The client the rest of the service sees: Prisma Client with the Accelerate
 * extension (typed `cacheStrategy` on model reads, `$accelerate`).
 */
export type Db = ReturnType<typeof accelerated>;

/** Builds the Prisma Client for `options.url`. Call once per process. */
export function createPrisma(options: PrismaOptions): Db {
  const mode = databaseModeOf(options.url);
  if (mode === "accelerate") return accelerated(createAccelerateClient(options));
  if (mode === "direct") {
    const { pool, client } = createDirectClient(options);
    const db = accelerated(client);
    pools.set(db, pool);
    return db;
  }
  throw new Error("createPrisma needs a database URL; the embedded PostgreSQL supplies one when DATABASE_URL is unset");
}

/** True when reads may be served from Accelerate's cache (an Accelerate URL); false on a direct client. */
export function cachingIsActive(url: string): boolean {
  return databaseModeOf(url) === "accelerate";
}

/** The pg pool's counters of a direct client (read at each metrics scrape); undefined over Accelerate, which pools elsewhere. */
export function poolStatsOf(db: Db): PoolStats | undefined {
  const pool = pools.get(db);
  return pool && { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: pool.options.max ?? 10 };
}
