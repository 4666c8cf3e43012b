/** A second instance of the service on the same database: what "any replica" means in the tests. */
import { pino } from "pino";
import { loadConfig } from "../../src/lib/config.js";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { startCompiled, type CompiledServer } from "./compiled-server.js";
import type { TestDatabase } from "./db.js";

export interface Replica extends RunningServer {
  grpcAddress: string;
}

/** Starts the service on `database` (already migrated); stopping it leaves the database in place. */
export async function startReplica(database: TestDatabase, env: Record<string, string> = {}): Promise<Replica> {
  const config = loadConfig({ DATABASE_URL: database.url, HOST: "127.0.0.1", PORT: "0", CONNECT_PORT: "-1", METRICS_PORT: "-1", DB_POOL_MAX: "8", SHUTDOWN_DRAIN_MS: "2000", ...env });
  const server = await startServer(config, pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }));
  return { ...server, grpcAddress: `127.0.0.1:${server.grpcPort}` };
}

/**
 * The compiled service (`npm start`'s artifact, one process: WORKERS=1) on
 * `database`, in a child process of its own, so a test can SIGKILL it. Each
 * such replica runs its own background jobs, as separate instances do.
 */
export async function startReplicaProcess(database: TestDatabase, env: Record<string, string> = {}): Promise<CompiledServer> {
  return startCompiled({ DATABASE_URL: database.url, WORKERS: "1", CONNECT_PORT: "-1", DB_POOL_MAX: "6", LOG_LEVEL: "info", SHUTDOWN_DRAIN_MS: "2000", ...env });
}
