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
 * deploy/status/resolve use MIGRATION_DATABASE_URL (the tables' owner), else
 * DIRECT_DATABASE_URL (DATABASE_URL may be an Accelerate URL, which cannot
 * run DDL), else DATABASE_URL, else the embedded PostgreSQL of `npm start`.
 * deploy also grants the service's role (the login of DATABASE_URL, when it
 * is a postgres:// URL of another role) its privileges: ledger_runtime.
 * (The operator CLI's `migrate deploy|status` shares this: src/cli/migrate.ts.)
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { createMigration, resolveMigration, writeSchemaSnapshot } from "../src/db/migrations.js";
import { deploy, describePending, pending, withMigrationDatabase } from "../src/cli/migrate.js";

const USAGE =
  "usage: npx tsx scripts/migrate.ts create <name> [--empty] | deploy | status | " +
  "resolve --rolled-back|--applied <name> | snapshot";

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
      for (const line of await deploy()) console.log(line);
      return 0;
    }
    case "status": {
      const names = await pending();
      console.log(describePending(names));
      return names.length ? 1 : 0;
    }
    case "resolve": {
      const [flag, name] = rest;
      if ((flag !== "--applied" && flag !== "--rolled-back") || !name) throw new Error(USAGE);
      const as = flag === "--applied" ? "applied" : "rolled-back";
      await withMigrationDatabase((url) => resolveMigration(url, name, as));
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
