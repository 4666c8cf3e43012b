/**
 * Offline Prisma Migrate (src/db/migrations.ts) against a real PostgreSQL:
 * the suite's (DATABASE_URL, or the embedded PostgreSQL 17 the global setup
 * starts), in an empty database of this file's own. Each test works in its
 * own random schema (`?schema=`) and on a temporary schema.prisma +
 * migrations folder, so the repository's prisma/ is never touched.
 */
import { createHash, randomBytes } from "node:crypto";
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  applyPendingMigrations,
  createMigration,
  DEFAULT_MIGRATIONS_DIR,
  listPendingMigrations,
  SNAPSHOT_FILE,
} from "../../src/db/migrations.js";
import { createEmptyDatabase, type TestDatabase } from "../support/db.js";

const SCHEMA_V1 = `generator client {
  provider = "prisma-client"
  output   = "../src/generated/prisma"
}

datasource db {
  provider = "postgresql"
}

model Account {
  id    String @id @default(uuid()) @db.Uuid
  name  String
}
`;
const SCHEMA_V2 = SCHEMA_V1.replace("  name  String\n", "  name  String\n  balance BigInt @default(0)\n");

// Hand-written SQL Prisma cannot express; `;` inside $$ must survive.
const CUSTOM_SQL = `
-- Hand-written: not expressible in schema.prisma
ALTER TABLE "Account" ADD CONSTRAINT "Account_balance_check" CHECK ("balance" >= 0);
CREATE FUNCTION account_trim_name() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW."name" := trim(NEW."name");
  RETURN NEW;
END;
$$;
CREATE TRIGGER account_trim_name BEFORE INSERT ON "Account" FOR EACH ROW EXECUTE FUNCTION account_trim_name();
`;

let database: TestDatabase;
let schema: string;
let url: string;
let dir: string;
let migrationsDir: string;
let schemaPath: string;

async function sql<T extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<T[]> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Writes schema.prisma and creates a migration from it. */
async function migrateTo(datamodel: string, name: string): Promise<string> {
  await writeFile(schemaPath, datamodel);
  const created = await createMigration(name, { migrationsDir, schemaPath });
  if (!created) throw new Error(`no migration created for ${name}`);
  return created.name;
}

beforeAll(async () => {
  database = await createEmptyDatabase();
});
afterAll(async () => {
  await database?.drop();
});

beforeEach(async () => {
  schema = `mig_test_${randomBytes(6).toString("hex")}`;
  const u = new URL(database.url);
  u.searchParams.set("schema", schema);
  url = u.toString();
  dir = await mkdtemp(path.join(tmpdir(), "lor-migrations-"));
  migrationsDir = path.join(dir, "migrations");
  schemaPath = path.join(dir, "schema.prisma");
});

afterEach(async () => {
  await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await rm(dir, { recursive: true, force: true });
});

describe("applyPendingMigrations", () => {
  it("applies every migration to an empty schema, then none, recording them as Prisma does", async () => {
    const init = await migrateTo(SCHEMA_V1, "init");
    const second = await migrateTo(SCHEMA_V2, "addBalance");
    await appendFile(path.join(migrationsDir, second, "migration.sql"), CUSTOM_SQL);

    expect(await applyPendingMigrations(url, { migrationsDir })).toEqual({ applied: [init, second] });
    expect(await applyPendingMigrations(url, { migrationsDir })).toEqual({ applied: [] });

    const rows = await sql<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
      rolled_back_at: Date | null;
      logs: string | null;
      applied_steps_count: number;
    }>(`SELECT * FROM "${schema}"._prisma_migrations ORDER BY started_at`);
    expect(rows).toHaveLength(2);
    for (const [i, name] of [init, second].entries()) {
      const file = await readFile(path.join(migrationsDir, name, "migration.sql"));
      expect(rows[i]).toMatchObject({
        migration_name: name,
        checksum: createHash("sha256").update(file).digest("hex"),
        rolled_back_at: null,
        logs: null,
        applied_steps_count: 1,
      });
      expect(rows[i]!.finished_at).toBeInstanceOf(Date);
    }

    // Everything landed in the URL's schema, and the whole script ran (trigger body intact).
    const tables = await sql<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
      [schema],
    );
    expect(tables.map((t) => t.table_name)).toEqual(["Account", "_prisma_migrations"]);
    const [account] = await sql<{ name: string }>(
      `INSERT INTO "${schema}"."Account" (id, name) VALUES (gen_random_uuid(), '  Ada ') RETURNING name`,
    );
    expect(account!.name).toBe("Ada");
    await expect(sql(`INSERT INTO "${schema}"."Account" (id, name, balance) VALUES (gen_random_uuid(), 'x', -1)`)).rejects.toThrow(
      /Account_balance_check/,
    );
  });

  it("refuses to continue past a failed migration", async () => {
    await migrateTo(SCHEMA_V1, "init");
    const broken = (await createMigration("broken", { migrationsDir, schemaPath, empty: true }))!.name;
    await appendFile(path.join(migrationsDir, broken, "migration.sql"), 'ALTER TABLE "Account" ADD COLUMN x INT;\nSELECT 1/0;\n');

    await expect(applyPendingMigrations(url, { migrationsDir })).rejects.toThrow(`in ${broken}: `);
    // The script ran as one transaction: its first statement was rolled back too.
    const columns = await sql("SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND column_name = 'x'", [schema]);
    expect(columns).toEqual([]);
    await expect(listPendingMigrations(url, { migrationsDir })).rejects.toThrow(`Migration ${broken} failed or did not finish`);
    await expect(applyPendingMigrations(url, { migrationsDir })).rejects.toThrow(/P3009/);
  });
});

describe("listPendingMigrations", () => {
  it("lists the migrations the database has not applied", async () => {
    const init = await migrateTo(SCHEMA_V1, "init");
    expect(await listPendingMigrations(url, { migrationsDir })).toEqual([init]);
    await applyPendingMigrations(url, { migrationsDir });
    expect(await listPendingMigrations(url, { migrationsDir })).toEqual([]);

    const second = await migrateTo(SCHEMA_V2, "add balance");
    expect(await listPendingMigrations(url, { migrationsDir })).toEqual([second]);
    expect(await applyPendingMigrations(url, { migrationsDir })).toEqual({ applied: [second] });
    expect(await listPendingMigrations(url, { migrationsDir })).toEqual([]);
  });
});

describe("createMigration", () => {
  it("writes Prisma's folder layout, computed from the previous datamodel", async () => {
    const init = await migrateTo(SCHEMA_V1, "init");
    const second = await migrateTo(SCHEMA_V2, "addBalance");

    expect(init).toMatch(/^\d{14}_init$/);
    expect(second).toMatch(/^\d{14}_add_balance$/);
    expect(second > init).toBe(true);
    expect((await readdir(path.join(migrationsDir, second))).sort()).toEqual(["migration.sql"]);
    expect(await readFile(path.join(migrationsDir, "migration_lock.toml"), "utf8")).toBe(
      '# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "postgresql"\n',
    );
    const initSql = await readFile(path.join(migrationsDir, init, "migration.sql"), "utf8");
    expect(initSql).toContain('CREATE TABLE "Account"');
    expect(initSql).not.toContain("CREATE SCHEMA");
    expect(await readFile(path.join(migrationsDir, second, "migration.sql"), "utf8")).toBe(
      '-- AlterTable\nALTER TABLE "Account" ADD COLUMN     "balance" BIGINT NOT NULL DEFAULT 0;\n',
    );
    const snapshot = await readFile(path.join(migrationsDir, SNAPSHOT_FILE), "utf8");
    expect(snapshot.split("\n")[0]).toBe(`// Datamodel as of migration ${second}`);
    expect(snapshot).toContain(SCHEMA_V2);
  });

  it("reports no change for an unchanged schema, hand-written SQL included", async () => {
    const init = await migrateTo(SCHEMA_V1, "init");
    await appendFile(path.join(migrationsDir, init, "migration.sql"), 'ALTER TABLE "Account" ADD CONSTRAINT c CHECK (name <> \'\');\n');

    expect(await createMigration("again", { migrationsDir, schemaPath })).toBeNull();
    expect((await readdir(migrationsDir)).filter((f) => /^\d/.test(f))).toEqual([init]);

    const empty = await createMigration("custom sql", { migrationsDir, schemaPath, empty: true });
    expect(await readFile(empty!.sqlPath, "utf8")).toBe("-- This is an empty migration.\n");
  });

  it("refuses when the snapshot does not belong to the latest migration", async () => {
    await migrateTo(SCHEMA_V1, "init");
    await mkdir(path.join(migrationsDir, "29990101000000_from_elsewhere"));
    await writeFile(path.join(migrationsDir, "29990101000000_from_elsewhere", "migration.sql"), "SELECT 1;\n");
    await writeFile(schemaPath, SCHEMA_V2);
    await expect(createMigration("next", { migrationsDir, schemaPath })).rejects.toThrow(
      /latest migration is 29990101000000_from_elsewhere/,
    );
  });

  it("defaults to the repository's prisma/migrations, not src/", () => {
    const repo = fileURLToPath(new URL("../..", import.meta.url));
    expect(DEFAULT_MIGRATIONS_DIR).toBe(path.join(repo, "prisma", "migrations"));
  });
});
