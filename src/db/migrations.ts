/**
 * Prisma Migrate for PostgreSQL without Prisma's native schema engine.
 *
 * The Prisma 7 CLI downloads a native engine binary to run `migrate`; this
 * machine has no network, so we drive Prisma's own engine compiled to wasm
 * (`@prisma/schema-engine-wasm`) over a driver adapter (`@prisma/adapter-pg`),
 * the way Prisma 6.19's CLI did with `engine: "js"`. The engine, not this file,
 * renders the SQL and writes `_prisma_migrations`, so the result is exactly
 * what native Prisma Migrate produces:
 *
 * - `prisma/migrations/<YYYYMMDDHHMMSS>_<name>/migration.sql` and
 *   `prisma/migrations/migration_lock.toml` (`provider = "postgresql"`), read
 *   the same way the Prisma CLI reads them, so `prisma migrate deploy` applies
 *   the same folder unchanged;
 * - `_prisma_migrations` rows (checksum = sha256 hex of migration.sql, the
 *   same advisory lock, failed-migration handling, ...).
 *
 * The "from" state of a new migration. The wasm engine's shadow-database diff
 * and its introspection fail, so `migrate dev`'s "replay the migrations into a
 * shadow database" does not work. Instead `createMigration` diffs two
 * datamodels: `prisma/migrations/schema.prisma.snapshot`, a copy of
 * schema.prisma as of the latest migration (its first line names that
 * migration), against the current schema.prisma. Why this layout:
 * - the snapshot is of the datamodel, so SQL appended by hand to a
 *   migration.sql (CHECK constraints, triggers: Prisma's "customize a
 *   migration" workflow) is never diffed again;
 * - one file, not a copy per migration folder: when two branches each add a
 *   migration, git merges the datamodel changes into the one snapshot and the
 *   header line conflicts, so the merge is visible. Per-folder copies would
 *   merge silently and the next migration would repeat the other branch's SQL;
 * - the header is checked against the latest migration folder, so a migration
 *   added by another tool or deleted by hand is refused instead of guessed at;
 * - it is not a `.prisma` file, so a folder-based (multi-file) schema never
 *   loads it; the native CLI reads only each folder's migration.sql and the
 *   lock file, so it ignores the snapshot.
 * The first migration is diffed from a bare `datasource` block, which, like
 * `migrate dev`'s empty shadow database, already has the default schema (a
 * diff from "empty" would add `CREATE SCHEMA IF NOT EXISTS "public"`).
 *
 * Two work-arounds, both needed for native-identical behaviour:
 * - adapter-pg's `executeScript` splits a script on every `;`, which breaks
 *   `$$ ... $$` function bodies and runs each statement in its own
 *   transaction. The native engine sends the whole migration as one
 *   simple-protocol query (one implicit transaction), so we do the same.
 * - `?schema=foo`: the engine reads the schema name from the adapter (for the
 *   namespace check and `CREATE SCHEMA`), but its SQL, migration.sql and the
 *   `_prisma_migrations` queries are unqualified, so, as the native engine
 *   does, every connection also gets `search_path` = that schema only.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { MIGRATIONS_DIR, PRISMA_DIR } from "../lib/paths.js";
import { LOCK_CONTENT, LOCK_FILE, nextTimestamp, readMigrations, readSnapshot, slugify, SNAPSHOT_FILE, writeSnapshot } from "./migration-folder.js";
import { engineError, NO_FILTER, withDatabaseEngine, withOfflineEngine, type MigrationLogger } from "./schema-engine.js";

export type { MigrationLogger };
export { SNAPSHOT_FILE };

export interface MigrationOptions {
  /** Default: `<repo>/prisma/migrations`. */
  migrationsDir?: string;
  logger?: MigrationLogger;
}

export interface CreateMigrationOptions {
  /** Default: `<repo>/prisma/migrations`. */
  migrationsDir?: string;
  /** Default: `<repo>/prisma/schema.prisma`. */
  schemaPath?: string;
  /** Create the migration even when the datamodel is unchanged, for hand-written SQL only. */
  empty?: boolean;
}

export const DEFAULT_MIGRATIONS_DIR = MIGRATIONS_DIR;
export const DEFAULT_SCHEMA_PATH = path.join(PRISMA_DIR, "schema.prisma");

/**
 * Applies every migration of the folder not yet applied, like `prisma migrate
 * deploy`. Safe to run concurrently: the engine holds Prisma's advisory lock.
 * @param databaseUrl `postgres(ql)://...`; `?schema=foo` migrates schema `foo`.
 * @returns the names of the migrations applied now, in order.
 * @throws when a migration fails, or an earlier one failed or never finished.
 */
export async function applyPendingMigrations(
  databaseUrl: string,
  opts: MigrationOptions = {},
): Promise<{ applied: string[] }> {
  const migrationsList = await readMigrations(opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR);
  return withDatabaseEngine(databaseUrl, opts.logger, async (engine) => {
    const { appliedMigrationNames: applied } = await engine
      .applyMigrations({ migrationsList, filters: NO_FILTER })
      .catch((e) => {
        throw engineError("Applying database migrations failed", e);
      });
    if (applied.length > 0) opts.logger?.info({ migrations: applied }, "applied database migrations");
    return { applied };
  });
}

/**
 * Names of the migrations in the folder that the database has not applied.
 * @throws when a migration failed or never finished in that database (it
 *   blocks `applyPendingMigrations` until resolved).
 */
export async function listPendingMigrations(databaseUrl: string, opts: MigrationOptions = {}): Promise<string[]> {
  const migrationsList = await readMigrations(opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR);
  return withDatabaseEngine(databaseUrl, opts.logger, async (engine) => {
    const diagnosis = await engine
      .diagnoseMigrationHistory({ migrationsList, optInToShadowDatabase: false, filters: NO_FILTER })
      .catch((e) => {
        throw engineError("Reading the migration history failed", e);
      });
    const failed = diagnosis.failedMigrationNames;
    if (failed.length > 0) {
      throw new Error(
        `Migration ${failed.join(", ")} failed or did not finish in this database; no further migration ` +
          "will be applied until it is resolved (fix the database, then mark it with " +
          "`npx tsx scripts/migrate.ts resolve --rolled-back|--applied <name>`, in the image " +
          "`node dist/scripts/migrate.js resolve …`; see https://pris.ly/d/migrate-resolve).",
      );
    }
    if (diagnosis.editedMigrationNames.length > 0) {
      opts.logger?.warn(
        { migrations: diagnosis.editedMigrationNames },
        "migration.sql changed after it was applied (checksum mismatch)",
      );
    }
    const history = diagnosis.history;
    if (history === null) return [];
    // The database ran migrations this folder lacks (an older checkout?); like `migrate deploy`, go on.
    if (history.diagnostic !== "databaseIsBehind") {
      opts.logger?.warn({ migrations: history.unpersistedMigrationNames }, "database has migrations missing from the folder");
    }
    return history.diagnostic === "migrationsDirectoryIsBehind" ? [] : history.unappliedMigrationNames;
  });
}

/**
 * Records the outcome of a migration by hand, like `prisma migrate resolve`:
 * "rolled-back" after undoing a failed migration's partial effects (it will be
 * applied again), "applied" after completing it by hand (it will be skipped).
 */
export async function resolveMigration(
  databaseUrl: string,
  migrationName: string,
  as: "applied" | "rolled-back",
  opts: MigrationOptions = {},
): Promise<void> {
  const migrationsList = await readMigrations(opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR);
  await withDatabaseEngine(databaseUrl, opts.logger, async (engine) => {
    const done =
      as === "applied"
        ? engine.markMigrationApplied({ migrationName, migrationsList })
        : engine.markMigrationRolledBack({ migrationName });
    await done.catch((e) => {
      throw engineError(`Marking ${migrationName} as ${as} failed`, e);
    });
  });
}

/**
 * Writes a new migration computed by Prisma's engine from the snapshot of the
 * datamodel as of the latest migration to the current schema.prisma, then
 * moves the snapshot forward. Needs no database.
 * @param name the migration's name, slugified like `prisma migrate dev --name`.
 * @returns the new folder's name and its migration.sql path, or null when the
 *   datamodel has not changed (and `empty` was not asked for).
 */
export async function createMigration(
  name: string,
  opts: CreateMigrationOptions = {},
): Promise<{ name: string; sqlPath: string } | null> {
  const migrationsDir = opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR;
  const schemaPath = opts.schemaPath ?? DEFAULT_SCHEMA_PATH;
  const slug = slugify(name);
  if (slug === "") throw new Error("The migration needs a name made of letters or digits.");

  const { migrationDirectories, lockfile } = await readMigrations(migrationsDir);
  if (lockfile.content !== null && !/^provider = "postgresql"$/m.test(lockfile.content)) {
    throw new Error(`${path.join(migrationsDir, LOCK_FILE)} is not for postgresql; these migrations cannot be extended.`);
  }
  const latest = migrationDirectories.at(-1)?.path;
  const from = await readSnapshot(migrationsDir, latest);
  const to = await readFile(schemaPath, "utf8");

  const sql = await withOfflineEngine(async (engine) => {
    const result = await engine
      .diff({
        from: { tag: "schemaDatamodel", files: [{ path: SNAPSHOT_FILE, content: from }] },
        to: { tag: "schemaDatamodel", files: [{ path: schemaPath, content: to }] },
        script: true,
        exitCode: true, // makes exitCode 2 mean "there is a difference"
        filters: NO_FILTER,
      })
      .catch((e) => {
        throw engineError("Computing the migration failed", e);
      });
    return result.exitCode === 2 || opts.empty ? (result.stdout ?? "") : null;
  });
  if (sql === null) return null;

  const folder = `${nextTimestamp(latest)}_${slug}`;
  const sqlPath = path.join(migrationsDir, folder, "migration.sql");
  await mkdir(path.dirname(sqlPath), { recursive: true });
  await writeFile(sqlPath, sql, { flag: "wx" });
  // Snapshot after migration.sql: a crash in between leaves a header naming
  // the previous migration, which the next run refuses rather than misreads.
  await writeSnapshot(migrationsDir, folder, to);
  await writeFile(path.join(migrationsDir, LOCK_FILE), LOCK_CONTENT);
  return { name: folder, sqlPath };
}

/**
 * Declares that the current schema.prisma is exactly what the existing
 * migrations build, by writing it as the snapshot of the latest one. Only for
 * adopting migrations made elsewhere (e.g. by native `prisma migrate dev`) or
 * after resolving a merge; a wrong declaration makes the next migration miss
 * or repeat changes.
 * @returns the name of the migration the snapshot now belongs to.
 */
export async function writeSchemaSnapshot(opts: Omit<CreateMigrationOptions, "empty"> = {}): Promise<string> {
  const migrationsDir = opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR;
  const { migrationDirectories } = await readMigrations(migrationsDir);
  const latest = migrationDirectories.at(-1)?.path;
  if (latest === undefined) throw new Error(`There is no migration in ${migrationsDir} to attach a snapshot to.`);
  await writeSnapshot(migrationsDir, latest, await readFile(opts.schemaPath ?? DEFAULT_SCHEMA_PATH, "utf8"));
  return latest;
}

