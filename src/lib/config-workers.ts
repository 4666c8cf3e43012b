/**
 * How many processes serve, and how the database pool is shared between
 * them (`WORKERS`, `DB_POOL_MAX`). Read with the rest of the configuration
 * (config.ts); the cluster itself is src/server/cluster-primary.ts.
 *
 * `DB_POOL_MAX` is the instance's total, whatever `WORKERS` is: a DBA sizes
 * `max_connections` per service instance, and that number must not grow
 * because the instance landed on a bigger machine. Each worker gets an even
 * share (`poolShareOf`), at least one connection.
 */
import { availableParallelism } from "node:os";
import { intFromEnv, type Env } from "./env.js";
import type { DatabaseMode } from "./config.js";

/**
 * Most worker processes. 64: every worker holds at least one pooled
 * connection, and the largest default pool (80) stays under PostgreSQL's
 * usual `max_connections` of 100 with room for migrations and a console.
 */
export const MAX_WORKERS = 64;

/** The single-process pool, as before workers existed: 2 cores saturate well before 10 connections. */
export const SINGLE_PROCESS_POOL_MAX = 10;
/** The default pool of a cluster: 4 connections per worker (two group-commit transactions, reads, jobs and health)… */
export const POOL_PER_WORKER_DEFAULT = 4;
/** …but never above 80, so that the default fits a `max_connections` of 100 (with room for migrations and a console). */
export const CLUSTER_POOL_MAX_DEFAULT = 80;

export interface WorkerConfig {
  workers: number;
  dbPoolMax: number;
}

/**
 * `WORKERS` and `DB_POOL_MAX`, defaulted and checked together.
 * - `WORKERS` defaults to the cores this process may use
 *   (`os.availableParallelism()`, at most `MAX_WORKERS`), and never to more
 *   workers than an explicit `DB_POOL_MAX` has connections.
 * - `DB_POOL_MAX` defaults to 10 with one worker (the shape before workers
 *   existed), else 4 per worker, between 10 and 80.
 * - An explicit `WORKERS` above an explicit `DB_POOL_MAX` is refused, naming
 *   both: a worker without a connection could not serve. On Accelerate the pool
 *   is Accelerate's, so no such check.
 */
export function loadWorkerConfig(env: Env, databaseMode: DatabaseMode, cores: number = availableParallelism()): WorkerConfig {
  const poolSet = env.DB_POOL_MAX !== undefined && env.DB_POOL_MAX !== "";
  const explicitPool = intFromEnv(env, "DB_POOL_MAX", SINGLE_PROCESS_POOL_MAX, 1, 1000);
  const coresDefault = Math.max(1, Math.min(cores, MAX_WORKERS));
  const workerDefault = poolSet && databaseMode !== "accelerate" ? Math.min(coresDefault, explicitPool) : coresDefault;
  const workers = intFromEnv(env, "WORKERS", workerDefault, 1, MAX_WORKERS);
  if (!poolSet) return { workers, dbPoolMax: defaultPoolMax(workers) };
  if (databaseMode !== "accelerate" && explicitPool < workers) {
    throw new Error(`DB_POOL_MAX is the pool of all workers together and must be at least WORKERS (${workers}), got ${explicitPool}`);
  }
  return { workers, dbPoolMax: explicitPool };
}

/** The default total pool for `workers` processes. */
export function defaultPoolMax(workers: number): number {
  if (workers === 1) return SINGLE_PROCESS_POOL_MAX;
  return Math.max(SINGLE_PROCESS_POOL_MAX, Math.min(CLUSTER_POOL_MAX_DEFAULT, POOL_PER_WORKER_DEFAULT * workers));
}

/** Worker `index`'s share of a `total` pool split between `workers`: even, the remainder to the lowest indexes. */
export function poolShareOf(total: number, workers: number, index: number): number {
  if (!Number.isInteger(index) || index < 0 || index >= workers) throw new Error(`worker index ${index} is not in 0..${workers - 1}`);
  return Math.floor(total / workers) + (index < total % workers ? 1 : 0);
}
