/**
 * The service as `npm start` runs it: the compiled JavaScript
 * (`dist/src/server/main.js`, built by `npm run build`) in a child process,
 * with the environment a test gives it, on ports it picks itself (0). Its
 * JSON log lines are kept for the test to read. Ready once every process
 * serves: the "serving" line of a single process, or the primary's "all
 * workers serving" with WORKERS > 1.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { startQueryPlanExecutor, type QueryPlanExecutor } from "./accelerate.js";
import { createTestDatabase, type TestDatabase } from "./db.js";
import { testDatabasePath, type DatabasePath } from "./server.js";

export const ROOT = path.resolve(import.meta.dirname, "../..");
/** What `npm start` runs (package.json). */
export const MAIN = "dist/src/server/main.js";

export type LogLine = Record<string, unknown> & { msg?: string };

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface CompiledServer {
  child: ChildProcess;
  /** The pid of the process started (the primary with WORKERS > 1). */
  pid: number;
  /** Every JSON line it has printed so far. */
  lines: LogLine[];
  grpcPort: number;
  connectPort: number;
  grpcAddress: string;
  connectBaseUrl: string;
  exited: Promise<Exit>;
  /** Resolves with the first line (already printed or to come) that `match` accepts; rejects after `timeoutMs` or on exit. */
  waitForLine(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends `signal` (default SIGTERM) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
}

export interface TestCompiledServer extends CompiledServer {
  database: TestDatabase;
  executor?: QueryPlanExecutor;
  /** Stops the server if still running, then the executor, and drops the database. */
  close(): Promise<void>;
}

/** Is the server ready: a single process serving, or the primary with every worker serving. */
const isReady = (line: LogLine) => line.msg === "all workers serving" || (line.msg === "serving" && line.cluster === undefined);

/** Starts the compiled server with exactly `env` on top of this process's environment (DATABASE_URL removed unless given). */
export function startCompiled(env: Record<string, string>, readyTimeoutMs = 60_000): Promise<CompiledServer> {
  if (!existsSync(path.join(ROOT, MAIN))) throw new Error(`${MAIN} is missing: run npm run build first`);
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: { ...inherited, HOST: "127.0.0.1", PORT: "0", CONNECT_PORT: "0", METRICS_PORT: "-1", LOG_LEVEL: "info", LOG_PRETTY: "false", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  // Whatever ends the test process, the server goes with it (its workers follow their primary).
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const exited = new Promise<Exit>((resolve) =>
    child.once("exit", (code, signal) => {
      process.removeListener("exit", killOnExit);
      resolve({ code, signal });
    }),
  );
  const lines: LogLine[] = [];
  const waiters = new Set<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  let buffer = "";
  child.stdout!.on("data", (chunk) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const text = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let line: LogLine;
      try {
        line = JSON.parse(text);
      } catch {
        continue; // not a log line
      }
      lines.push(line);
      for (const w of waiters) {
        if (w.match(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
      }
    }
  });
  const waitForLine = (match: (line: LogLine) => boolean, timeoutMs = 30_000) => {
    const found = lines.find(match);
    if (found) return Promise.resolve(found);
    return new Promise<LogLine>((resolve, reject) => {
      const waiter = {
        match,
        resolve: (line: LogLine) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`no such log line within ${timeoutMs} ms; last lines:\n${tail()}`));
      }, timeoutMs);
      waiters.add(waiter);
      void exited.then((exit) => {
        if (!waiters.delete(waiter)) return;
        clearTimeout(timer);
        reject(new Error(`server exited (${exit.code ?? exit.signal}) before the log line; stderr: ${stderr}\n${tail()}`));
      });
    });
  };
  const tail = () =>
    lines
      .slice(-15)
      .map((l) => JSON.stringify(l).slice(0, 300))
      .join("\n");
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return waitForLine(isReady, readyTimeoutMs).then(
    (ready) => {
      const grpcPort = ready.grpcPort as number;
      const connectPort = ready.connectPort as number;
      return {
        child,
        pid: child.pid!,
        lines,
        grpcPort,
        connectPort,
        grpcAddress: `127.0.0.1:${grpcPort}`,
        connectBaseUrl: `http://127.0.0.1:${connectPort}`,
        exited,
        waitForLine,
        stop,
      };
    },
    async (error: unknown) => {
      child.kill("SIGKILL");
      await exited;
      throw error;
    },
  );
}

/**
 * The compiled server on a fresh test database (cloned from the migrated
 * template), reached the way `path` says: directly, or through Prisma's
 * query-plan executor (the Accelerate path) with migrations on the direct URL.
 */
export async function startCompiledTestServer(env: Record<string, string> = {}, path: DatabasePath = testDatabasePath()): Promise<TestCompiledServer> {
  const database = await createTestDatabase();
  const executor = path === "accelerate" ? await startQueryPlanExecutor(database.url) : undefined;
  try {
    const server = await startCompiled({
      DATABASE_URL: executor ? executor.url : database.url,
      ...(executor ? { DIRECT_DATABASE_URL: database.url } : {}),
      SHUTDOWN_DRAIN_MS: "5000",
      ...env,
    });
    return {
      ...server,
      database,
      executor,
      close: async () => {
        await server.stop("SIGTERM");
        await executor?.stop();
        await database.drop();
      },
    };
  } catch (error) {
    await executor?.stop();
    await database.drop();
    throw error;
  }
}

/** Is `pid` still a live process? */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
