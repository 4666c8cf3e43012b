/** A fresh database per test file, cloned from the migrated template (fast: a file copy, no migration run). */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export interface TestDatabase {
  name: string;
  url: string;
  /** Runs SQL as the test's superuser connection (for assertions and tamper tests). */
  sql<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<T>>;
  drop(): Promise<void>;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject("adminUrl") });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database (no migrations), e.g. to test migrating on start. */
export async function createEmptyDatabase(): Promise<TestDatabase> {
  return createDatabase("");
}

/** Creates a database with every migration applied. */
export async function createTestDatabase(): Promise<TestDatabase> {
  return createDatabase(` TEMPLATE ${inject("templateDatabase")}`);
}

async function createDatabase(templateClause: string): Promise<TestDatabase> {
  // The runner's pid is in the template's name; the worker's pid keeps names unique per file.
  const name = `lor_t_${inject("templateDatabase").replace("lor_template_", "")}_${process.pid}_${randomBytes(4).toString("hex")}`;
  for (let attempt = 0; ; attempt++) {
    try {
      await admin((c) => c.query(`CREATE DATABASE ${name}${templateClause}`));
      break;
    } catch (error) {
      // Two files cloning the template at the same instant: "source database is being accessed".
      if ((error as { code?: string }).code === "55006" && attempt < 20) {
        await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
        continue;
      }
      throw error;
    }
  }
  const url = withDatabase(inject("adminUrl"), name);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  // pool.end() resolves once Terminate is sent, not once the socket closes, so
  // DROP DATABASE … WITH (FORCE) can still reach a closing connection with
  // 57P01; the pool re-emits it, and an 'error' nobody listens to would crash
  // the test worker. The database is going away on purpose: ignore it.
  pool.on("error", () => undefined);
  return {
    name,
    url,
    sql: (text, values) => pool.query(text, values as unknown[]),
    drop: async () => {
      await pool.end();
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}
