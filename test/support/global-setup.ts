/**
 * Once per test run: find a real PostgreSQL (DATABASE_URL when set, otherwise
 * an embedded PostgreSQL 17 in a temporary folder), build a template database
 * with every migration applied, and hand both to the test files.
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "../../src/db/embedded.js";
import { applyPendingMigrations } from "../../src/db/migrations.js";
import { freePort } from "./free-port.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** URL of a maintenance database on the test server (for CREATE/DROP DATABASE). */
    adminUrl: string;
    /** Name of the migrated template database that test databases are cloned from. */
    templateDatabase: string;
    /** "direct" (DATABASE_URL) or "embedded". */
    databaseSource: string;
  }
}


export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

interface SharedDatabase {
  adminUrl: string;
  templateDatabase: string;
  embedded?: EmbeddedDatabase;
  embeddedDir?: string;
}

/**
 * Vitest runs the global setup once per project (and once more for the root),
 * in one process but from separate module instances. The database and the
 * template are made once, kept on globalThis, and shared; the last teardown
 * removes them.
 */
const registry = globalThis as typeof globalThis & { lorTestDatabase?: { shared: Promise<SharedDatabase>; holders: number } };

async function startSharedDatabase(): Promise<SharedDatabase> {
  let adminUrl: string;
  let embedded: EmbeddedDatabase | undefined;
  let embeddedDir: string | undefined;
  const given = process.env.DATABASE_URL;
  if (given && /^postgres(ql)?:\/\//.test(given)) {
    adminUrl = given;
  } else {
    embeddedDir = await mkdtemp(path.join(tmpdir(), "lor-test-pg-"));
    // mkdtemp makes a 0700 folder; PostgreSQL runs as the `postgres` user when we are root.
    await chmod(embeddedDir, 0o755);
    embedded = await startEmbeddedPostgres({ dataDir: path.join(embeddedDir, "data"), port: await freePort() });
    adminUrl = embedded.adminUrl;
  }
  const templateDatabase = `lor_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${templateDatabase} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${templateDatabase}`);
  await admin.end();
  await applyPendingMigrations(withDatabase(adminUrl, templateDatabase));
  return { adminUrl, templateDatabase, embedded, embeddedDir };
}

async function stopSharedDatabase({ adminUrl, templateDatabase, embedded, embeddedDir }: SharedDatabase): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  const { rows } = await client.query<{ datname: string }>(
    "SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2",
    [templateDatabase, `lor_t_${process.pid}_%`],
  );
  for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  await client.end();
  await embedded?.stop();
  if (embeddedDir) await rm(embeddedDir, { recursive: true, force: true });
}

export default async function setup(project: TestProject) {
  const entry = (registry.lorTestDatabase ??= { shared: startSharedDatabase(), holders: 0 });
  entry.holders += 1;
  const database = await entry.shared;
  project.provide("adminUrl", database.adminUrl);
  project.provide("templateDatabase", database.templateDatabase);
  project.provide("databaseSource", database.embedded ? "embedded" : "direct");
  return async () => {
    entry.holders -= 1;
    if (entry.holders === 0) {
      delete registry.lorTestDatabase;
      await stopSharedDatabase(database);
    }
  };
}
