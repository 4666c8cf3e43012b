/**
 * Everything a bench invocation sets up and must tear down: the PostgreSQL
 * server (given or embedded), the service's fresh database, the service
 * child process, the load connections. close() undoes it all, once, in
 * reverse order, whatever failed.
 */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Connections } from "./client.js";
import { openDatabase, type BenchDatabase } from "./database.js";
import type { BenchOptions } from "./flags.js";
import { seedFixture } from "./fixture.js";
import { startServer, type RunningServer } from "./server.js";
import type { Fixture } from "./template.js";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface Session {
  db: BenchDatabase;
  serviceDatabase: { name: string; url: string };
  server: RunningServer;
  /** Connections for the load (--connections), with --metadata and TLS. */
  conn: Connections;
  /** Seeds `accounts` funded wallets through the API; `label` keeps sets apart. */
  seed(label: string, accounts: number): Promise<Fixture>;
  /** Registers teardown work to run before the session's own (baselines' children, temp folders). */
  onClose(fn: () => Promise<void> | void): void;
  close(): Promise<void>;
}

/**
 * Opens everything. `onCloser` gets the teardown at once, before anything is
 * created, so a signal that arrives half-way (a database created, the server
 * not yet up) still undoes what exists.
 */
export async function openSession(
  options: BenchOptions,
  log: (line: string) => void,
  extraNodeArgs: string[] = [],
  onCloser: (close: () => Promise<void>) => void = () => undefined,
): Promise<Session> {
  const cleanups: (() => Promise<void> | void)[] = [];
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      for (const fn of cleanups.reverse()) {
        try {
          await fn();
        } catch (error) {
          log(`cleanup: ${(error as Error).message}`);
        }
      }
    })());
  onCloser(close);
  try {
    const db = await openDatabase(process.env.DATABASE_URL || undefined, log);
    cleanups.push(() => db.close());
    const serviceDatabase = await db.createDatabase();
    log(`PostgreSQL: ${db.version} (${db.source}); service database ${serviceDatabase.name}`);
    const t0 = performance.now();
    const server = await startServer({
      // BENCH_SERVER_ROOT: serve another checkout (e.g. a git worktree of an older commit, built) for before/after figures.
      repoRoot: process.env.BENCH_SERVER_ROOT ? resolve(process.env.BENCH_SERVER_ROOT) : REPO_ROOT,
      databaseUrl: serviceDatabase.url,
      port: options.port,
      logLevel: options.logLevel,
      serverEnv: options.serverEnv,
      serverNodeArgs: [...options.serverNodeArgs, ...extraNodeArgs],
      tls: options.tls,
      metadata: options.metadata,
    });
    cleanups.push(() => server.stop());
    log(`service: pid ${server.pid} on ${server.target}, SERVING after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const conn = new Connections({ target: server.target, tls: options.tls, connections: options.connections, metadata: options.metadata });
    cleanups.push(() => conn.close());
    // Seeding has its own connection: one is plenty, and --connections is about the load.
    const seedConn = new Connections({ target: server.target, tls: options.tls, connections: 1, metadata: options.metadata });
    cleanups.push(() => seedConn.close());
    return {
      db,
      serviceDatabase,
      server,
      conn,
      async seed(label, accounts) {
        const s0 = performance.now();
        const fixture = await seedFixture(seedConn, { accounts, label, log });
        log(`seeded ${accounts} users with funded wallets (${label}) in ${((performance.now() - s0) / 1000).toFixed(1)} s`);
        return fixture;
      },
      onClose: (fn) => cleanups.push(fn),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
