/**
 * Tools for taking PostgreSQL connections away from under the running
 * service the way an operator (or a failover) does: `pg_terminate_backend`
 * on the backends of the service's database.
 *
 * The test's own connections carry an `application_name` starting with
 * `connloss-`, so "the service's backends" are all the others (on the
 * Accelerate path, the query-plan executor's). Nothing here waits for a
 * fixed time: every step polls PostgreSQL for the state it needs.
 */
import { spawnSync } from "node:child_process";
import pg from "pg";
import { pino } from "pino";
import { loadConfig } from "../../src/lib/config.js";
import { startServer } from "../../src/server/app.js";
import { startQueryPlanExecutor } from "./accelerate.js";
import { createTestDatabase, type TestDatabase } from "./db.js";
import { until } from "./poll.js";
import type { DatabasePath, TestServer } from "./server.js";

/** Prefix of the application_name of every connection the test itself opens. */
export const TEST_APP_PREFIX = "connloss-";
/** Most a test waits for PostgreSQL to reach a state it polls for: far beyond what it takes, short enough to fail fast. */
const WAIT_BUDGET_MS = 10_000;
const LOCKER_APP = `${TEST_APP_PREFIX}locker`;

/** The backends of database $1 that belong to the service (or to the executor in front of it). */
const SERVICE_BACKENDS = `
  SELECT pid, state, wait_event_type, wait_event FROM pg_stat_activity
  WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'
    AND application_name NOT LIKE '${TEST_APP_PREFIX}%'`;

export interface Backend {
  pid: number;
  state: string | null;
  wait_event_type: string | null;
  wait_event: string | null;
}

/** Something the service logged with an `err`: the log message, and the error object itself. */
export interface LoggedError {
  msg: string;
  err: unknown;
}

export interface RecordedServer extends TestServer {
  /** Every error the service logged, in order (runTransaction, the RPC layer, jobs, the pool). */
  logged: LoggedError[];
}

/**
 * `startTestServer`, with a logger that keeps the error objects the service
 * logs, so a test sees exactly what reached `runTransaction` and the RPC
 * layer. Waits for a connection (pool, executor) are raised to 30 s so a
 * queue of calls behind held locks never times out on a slow machine.
 */
export async function startRecordedServer(
  env: Record<string, string>,
  path: DatabasePath,
  /** How the service (or the executor) reaches PostgreSQL: `database.url` unless given, e.g. through a proxy. */
  via?: (database: TestDatabase) => Promise<string>,
): Promise<RecordedServer> {
  const database = await createTestDatabase();
  const serviceUrl = via ? await via(database) : database.url;
  const executor = path === "accelerate" ? await startQueryPlanExecutor(serviceUrl, { maxTransactionWaitMs: 30_000 }) : undefined;
  const config = loadConfig({
    DATABASE_URL: executor ? executor.url : serviceUrl,
    ...(executor ? { DIRECT_DATABASE_URL: database.url } : {}),
    HOST: "127.0.0.1",
    PORT: "0",
    CONNECT_PORT: "-1", METRICS_PORT: "-1",
    DB_POOL_MAX: "8",
    DB_TRANSACTION_MAX_WAIT_MS: "30000",
    SHUTDOWN_DRAIN_MS: "2000",
    ...env,
  });
  const logged: LoggedError[] = [];
  const hooks = {
    logMethod(this: unknown, args: unknown[], method: (...a: unknown[]) => void) {
      const [fields, msg] = args;
      if (typeof fields === "object" && fields !== null && "err" in fields) {
        logged.push({ msg: typeof msg === "string" ? msg : "", err: (fields as { err: unknown }).err });
      }
      method.apply(this, args);
    },
  };
  const logger = pino({ level: "warn", hooks: hooks as pino.LoggerOptions["hooks"] }, { write: () => undefined });
  const server = await startServer(config, logger);
  return {
    ...server,
    logged,
    database,
    config,
    executor,
    grpcAddress: `127.0.0.1:${server.grpcPort}`,
    connectBaseUrl: "",
    close: async () => {
      await server.stop();
      await executor?.stop();
      await database.drop();
    },
  };
}

/** The test's view of PostgreSQL, on connections the terminations spare. */
export class Observer {
  private readonly pool: pg.Pool;

  constructor(readonly database: TestDatabase) {
    this.pool = new pg.Pool({ connectionString: database.url, max: 2, application_name: `${TEST_APP_PREFIX}observer` });
    // As in support/db.ts: end() resolves once Terminate is sent, so the database's
    // DROP … WITH (FORCE) can still reach a closing connection with 57P01.
    this.pool.on("error", () => undefined);
  }

  /** The database as `expectBooksBalance` and friends want it, read through the observer's connections. */
  get books(): TestDatabase {
    return { ...this.database, sql: (text, values) => this.pool.query(text, values as unknown[]) };
  }

  async backends(): Promise<Backend[]> {
    return (await this.pool.query<Backend>(SERVICE_BACKENDS, [this.database.name])).rows;
  }

  /** Polls (every 10 ms, for at most WAIT_BUDGET_MS) until `done` holds of the service's backends; fails naming what it saw last. */
  async waitFor(what: string, done: (backends: Backend[]) => boolean): Promise<Backend[]> {
    const seen = await until(() => this.backends(), done, WAIT_BUDGET_MS, 10);
    if (!done(seen)) throw new Error(`gave up waiting for ${what}; the service's backends: ${JSON.stringify(seen)}`);
    return seen;
  }

  /**
   * Waits until backends `pids` have exited: e.g. one whose client the
   * network dropped, which PostgreSQL (not told) runs on until it next
   * talks to that client.
   */
  async waitGone(what: string, pids: number[]): Promise<void> {
    await this.waitFor(what, (now) => now.every((b) => !pids.includes(b.pid)));
  }

  /**
   * The foreign client's statement, `pg_terminate_backend` on every backend
   * of the database but the test's own; resolves once they have exited.
   */
  async terminateService(): Promise<Backend[]> {
    // MATERIALIZED: the service's backends are chosen first. Otherwise PostgreSQL may call
    // pg_terminate_backend before the datname filter, on every backend of the server.
    const { rows } = await this.pool.query<Backend>(
      `WITH s AS MATERIALIZED (${SERVICE_BACKENDS}) SELECT * FROM s WHERE pg_terminate_backend(pid)`,
      [this.database.name],
    );
    const pids = new Set(rows.map((r) => r.pid));
    await this.waitFor("the terminated backends to exit", (now) => now.every((b) => !pids.has(b.pid)));
    return rows;
  }

  /** How many transfers carry each of `keys`. */
  async transfersByKey(keys: string[]): Promise<Map<string, { count: number; id: string }>> {
    const { rows } = await this.pool.query<{ key: string; count: number; id: string }>(
      "SELECT idempotency_key AS key, count(*)::int AS count, min(id::text) AS id FROM transfers WHERE idempotency_key = ANY($1) GROUP BY 1",
      [keys],
    );
    return new Map(rows.map((r) => [r.key, { count: r.count, id: r.id }]));
  }

  async end(): Promise<void> {
    await this.pool.end();
  }
}

/** Backends waiting on a lock (those the `Locker` holds up). */
export const lockWaiters = (backends: Backend[]) => backends.filter((b) => b.wait_event_type === "Lock");

/**
 * A connection of its own that holds locks the service's statements then
 * wait on. It is spared by `terminateService` (its application_name has the
 * test prefix), so what it holds outlives the service's connections.
 */
export class Locker {
  /** Every locker not yet released, for `releaseAll` after a test (so a failed test leaves nothing locked). */
  private static readonly unreleased = new Set<Locker>();
  private readonly client: pg.Client;

  private constructor(url: string) {
    this.client = new pg.Client({ connectionString: url, application_name: LOCKER_APP });
    // killBetweenStatements terminates this connection on purpose.
    this.client.on("error", () => undefined);
  }

  static async open(database: TestDatabase): Promise<Locker> {
    const locker = new Locker(database.url);
    Locker.unreleased.add(locker);
    await locker.client.connect();
    return locker;
  }

  /** Releases every locker still holding locks (call after each test). */
  static async releaseAll(): Promise<void> {
    await Promise.all([...Locker.unreleased].map((l) => l.release()));
  }

  /** Locks the accounts' rows until `release`. */
  async lockAccounts(ids: string[]): Promise<this> {
    await this.client.query("BEGIN");
    await this.client.query("SELECT id FROM accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE", [ids]);
    return this;
  }

  /** Locks a whole table until `release` (`ACCESS EXCLUSIVE` holds up even reads; `SHARE` only writes). */
  async lockTable(table: "accounts" | "users", mode: "ACCESS EXCLUSIVE" | "SHARE"): Promise<this> {
    await this.client.query("BEGIN");
    await this.client.query(`LOCK TABLE ${table} IN ${mode} MODE`);
    return this;
  }

  /** Holds advisory lock `key` until `release`. */
  async lockAdvisory(key: number): Promise<this> {
    await this.client.query("SELECT pg_advisory_lock($1)", [key]);
    return this;
  }

  /** Lets go of everything; tolerates a connection already terminated, and a second call. */
  async release(): Promise<void> {
    if (!Locker.unreleased.delete(this)) return;
    await this.client.end().catch(() => undefined);
  }
}

/**
 * Kills the service's transactions between two of their statements,
 * deterministically.
 *
 * Call it while backends `pids` of the service wait on a `Locker`. It
 * blocks this process (so the in-process service does nothing meanwhile)
 * and, from a child process: terminates the locker, waits until each of
 * `pids` has run its held-up statement and sits in `state` (`idle in
 * transaction`: between two statements; `idle`: a held-up COMMIT, or a
 * held-up statement that is its own transaction, has committed),
 * terminates every service backend and waits until they are gone. When
 * this process resumes, each of those connections reads its
 * statement's reply and the termination notice together, so the service
 * goes on with a connection it has just learnt is dead.
 *
 * Returns the service's backends as they were just before the termination.
 */
export function killBetweenStatements(database: TestDatabase, pids: number[], state: "idle in transaction" | "idle"): Backend[] {
  const script = `
    import pg from "pg";
    const [url, name, pidsJson, state] = process.argv.slice(1);
    const held = JSON.parse(pidsJson);
    const client = new pg.Client({ connectionString: url, application_name: "${TEST_APP_PREFIX}killer" });
    await client.connect();
    const backends = async () => (await client.query(${JSON.stringify(SERVICE_BACKENDS)}, [name])).rows;
    const poll = async (what, done) => {
      for (let i = 0; i < ${WAIT_BUDGET_MS / 5}; i++) {
        const now = await backends();
        if (done(now)) return now;
        await new Promise((r) => setTimeout(r, 5));
      }
      throw new Error("gave up waiting for " + what + ": " + JSON.stringify(await backends()));
    };
    await client.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = '${LOCKER_APP}'", [name]);
    const before = await poll("the held-up statements to finish", (now) =>
      held.every((pid) => now.some((b) => b.pid === pid && b.state === state)),
    );
    const pids = before.map((b) => b.pid);
    await client.query("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", [pids]);
    await poll("the terminated backends to exit", (now) => now.every((b) => !pids.includes(b.pid)));
    await client.end();
    process.stdout.write(JSON.stringify(before));
  `;
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script, database.url, database.name, JSON.stringify(pids), state], {
    cwd: process.cwd(),
    encoding: "utf8",
    timeout: 3 * WAIT_BUDGET_MS,
  });
  if (child.status !== 0) throw new Error(`killBetweenStatements failed: ${child.stderr || String(child.error)}`);
  return JSON.parse(child.stdout) as Backend[];
}
