/** Starts the real service (both transports) on free ports against a test database. */
import { pino } from "pino";
import { loadConfig, type Config } from "../../src/lib/config.js";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { startQueryPlanExecutor, type ExecutorLimits, type QueryPlanExecutor } from "./accelerate.js";
import { createTestDatabase, type TestDatabase } from "./db.js";

/**
 * How the service under test reaches PostgreSQL: `direct` (adapter-pg), or
 * `accelerate` (Prisma Client → query-plan executor over HTTP → PostgreSQL).
 * `TEST_DATABASE_PATH=accelerate` runs a whole suite the Accelerate way.
 */
export type DatabasePath = "direct" | "accelerate";

export function testDatabasePath(): DatabasePath {
  return process.env.TEST_DATABASE_PATH === "accelerate" ? "accelerate" : "direct";
}

export interface TestServer extends RunningServer {
  database: TestDatabase;
  grpcAddress: string;
  connectBaseUrl: string;
  config: Config;
  /** The executor between the service and PostgreSQL, on the Accelerate path. */
  executor?: QueryPlanExecutor;
  close(): Promise<void>;
}

export async function startTestServer(
  env: Record<string, string> = {},
  database?: TestDatabase,
  path: DatabasePath = testDatabasePath(),
  executorLimits?: ExecutorLimits,
): Promise<TestServer> {
  const db = database ?? (await createTestDatabase());
  const executor = path === "accelerate" ? await startQueryPlanExecutor(db.url, executorLimits) : undefined;
  const config = loadConfig({
    DATABASE_URL: executor ? executor.url : db.url,
    ...(executor ? { DIRECT_DATABASE_URL: db.url } : {}),
    HOST: "127.0.0.1",
    PORT: "0",
    CONNECT_PORT: "0", METRICS_PORT: "-1",
    DB_POOL_MAX: "8",
    SHUTDOWN_DRAIN_MS: "2000",
    ...env,
  });
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const server = await startServer(config, logger);
  return {
    ...server,
    database: db,
    config,
    executor,
    grpcAddress: `127.0.0.1:${server.grpcPort}`,
    connectBaseUrl: `http://127.0.0.1:${server.connectPort}`,
    close: async () => {
      await server.stop();
      await executor?.stop();
      await db.drop();
    },
  };
}
