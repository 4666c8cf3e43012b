/**
 * Prisma Migrate without the native engine (see src/db/migrations.ts for how).
 *
 *   npx tsx scripts/migrate.ts create <name> [--empty]
 *       New prisma/migrations/<timestamp>_<name>/migration.sql from the change
 *       in prisma/schema.prisma since the last migration; needs no database.
 *       Review it, append hand-written SQL (CHECK constraints, triggers) if
 *       needed, then deploy. --empty: no datamodel change, SQL written by hand.
 *   npx tsx scripts/migrate.ts deploy
 *       Apply pending migrations (like `prisma migrate deploy`).
 *   npx tsx scripts/migrate.ts status
 *       List pending migrations; exit code 1 if there are any.
 *   npx tsx scripts/migrate.ts resolve --rolled-back|--applied <name>
 *       After a failed migration, record that it was undone (it will be
 *       retried) or completed by hand (it will be skipped), like
 *       `prisma migrate resolve`.
 *   npx tsx scripts/migrate.ts snapshot
 *       Record prisma/schema.prisma as the datamodel of the latest migration
 *       (only when adopting migrations made elsewhere, or after a merge).
 *
 * deploy/status/resolve use DIRECT_DATABASE_URL when set (DATABASE_URL may be
 * an Accelerate URL, which cannot run DDL), otherwise DATABASE_URL, otherwise
 * the embedded PostgreSQL of `npm start`.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import {
  applyPendingMigrations,
  createMigration,
  listPendingMigrations,
  resolveMigration,
  writeSchemaSnapshot,
} from "../src/db/migrations.js";
import { startEmbeddedPostgres } from "../src/db/embedded.js";
import { loadConfig } from "../src/lib/config.js";

const USAGE =
  "usage: npx tsx scripts/migrate.ts create <name> [--empty] | deploy | status | " +
  "resolve --rolled-back|--applied <name> | snapshot";

/**
 * The database to migrate: DIRECT_DATABASE_URL, else DATABASE_URL, else the
 * embedded PostgreSQL that `npm start` uses (started for the command, then stopped).
 */
async function withDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const url = process.env.DIRECT_DATABASE_URL || process.env.DATABASE_URL;
  if (url) {
    if (!/^postgres(ql)?:\/\//i.test(url)) {
      throw new Error("DATABASE_URL is not a postgres:// URL (Accelerate?): set DIRECT_DATABASE_URL for migrations");
    }
    return fn(url);
  }
  const config = loadConfig();
  const embedded = await startEmbeddedPostgres({ dataDir: config.embeddedDataDir, port: config.embeddedPort });
  try {
    return await fn(embedded.url);
  } finally {
    await embedded.stop();
  }
}

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case "create": {
      const empty = rest.includes("--empty");
      const name = rest.filter((arg) => arg !== "--empty").join(" ");
      if (!name) throw new Error(`create needs a name\n${USAGE}`);
      const created = await createMigration(name, { empty });
      if (!created) {
        console.error(
          "No change: prisma/schema.prisma matches the datamodel of the latest migration, so there is nothing to create.\n" +
            "For a migration of hand-written SQL only, add --empty.",
        );
        return 1;
      }
      console.log(`Created ${path.relative(process.cwd(), created.sqlPath)}`);
      // Native `migrate dev` warns about data loss; a datamodel diff cannot, so point at the risky lines.
      const drops = (await readFile(created.sqlPath, "utf8")).split("\n").filter((line) => /\bDROP\b/.test(line));
      if (drops.length) console.log(`It drops data or objects; check that is intended:\n  ${drops.join("\n  ")}`);
      console.log("Review it (append any hand-written SQL at the end), then run: npx tsx scripts/migrate.ts deploy");
      return 0;
    }
    case "deploy": {
      const { applied } = await withDatabase((url) => applyPendingMigrations(url));
      console.log(applied.length ? `Applied:\n  ${applied.join("\n  ")}` : "No pending migrations.");
      return 0;
    }
    case "status": {
      const pending = await withDatabase((url) => listPendingMigrations(url));
      console.log(pending.length ? `Pending:\n  ${pending.join("\n  ")}` : "Database is up to date.");
      return pending.length ? 1 : 0;
    }
    case "resolve": {
      const [flag, name] = rest;
      if ((flag !== "--applied" && flag !== "--rolled-back") || !name) throw new Error(USAGE);
      const as = flag === "--applied" ? "applied" : "rolled-back";
      await withDatabase((url) => resolveMigration(url, name, as));
      console.log(`Marked ${name} as ${as}.`);
      return 0;
    }
    case "snapshot": {
      console.log(`Recorded prisma/schema.prisma as the datamodel of ${await writeSchemaSnapshot()}`);
      return 0;
    }
    default:
      console.error(USAGE);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  },
);
