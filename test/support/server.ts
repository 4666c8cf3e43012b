/** Starts the real service (both transports) on free ports against a test database. */
import { pino } from "pino";
import { loadConfig, type Config } from "../../src/lib/config.js";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { createTestDatabase, type TestDatabase } from "./db.js";

export interface TestServer extends RunningServer {
  database: TestDatabase;
  grpcAddress: string;
  connectBaseUrl: string;
  config: Config;
  close(): Promise<void>;
}

export async function startTestServer(env: Record<string, string> = {}, database?: TestDatabase): Promise<TestServer> {
  const db = database ?? (await createTestDatabase());
  const config = loadConfig({
    DATABASE_URL: db.url,
    HOST: "127.0.0.1",
    PORT: "0",
    CONNECT_PORT: "0",
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
    grpcAddress: `127.0.0.1:${server.grpcPort}`,
    connectBaseUrl: `http://127.0.0.1:${server.connectPort}`,
    close: async () => {
      await server.stop();
      await db.drop();
    },
  };
}
