/**
 * Once per test run: find a real PostgreSQL (DATABASE_URL when set, otherwise
 * an embedded PostgreSQL 17 in a temporary folder), build a template database
 * with every migration applied, and hand both to the test files.
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "../../src/db/embedded.js";
import { applyPendingMigrations } from "../../src/db/migrations.js";

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

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

let embedded: EmbeddedDatabase | undefined;
let embeddedDir: string | undefined;

export default async function setup(project: TestProject) {
  let adminUrl: string;
  const given = process.env.DATABASE_URL;
  if (given && /^postgres(ql)?:\/\//.test(given)) {
    adminUrl = given;
  } else {
    embeddedDir = await mkdtemp(path.join(tmpdir(), "lor-test-pg-"));
    // mkdtemp makes a 0700 folder; PostgreSQL runs as the `postgres` user when we are root.
    await chmod(embeddedDir, 0o755);
    embedded = await startEmbeddedPostgres({ dataDir: path.join(embeddedDir, "data"), port: await freePort() });
    adminUrl = embedded.url;
  }
  const templateDatabase = `lor_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${templateDatabase} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${templateDatabase}`);
  await admin.end();
  await applyPendingMigrations(withDatabase(adminUrl, templateDatabase));

  project.provide("adminUrl", adminUrl);
  project.provide("templateDatabase", templateDatabase);
  project.provide("databaseSource", embedded ? "embedded" : "direct");

  return async () => {
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
  };
}
