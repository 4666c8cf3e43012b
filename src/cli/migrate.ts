/**
 * Migrations as an operator runs them, shared by `scripts/migrate.ts`
 * (`npm run migrate:*`, `node dist/scripts/migrate.js`) and the CLI's
 * `migrate deploy|status`: which database, as whom, and the grant to the
 * service's role. The migrating itself is src/db/migrations.ts.
 */
import { startEmbeddedPostgres } from "../db/embedded.js";
import { applyPendingMigrations, listPendingMigrations } from "../db/migrations.js";
import { grantRuntimeRole, loginRoleOf, RUNTIME_ROLE } from "../db/roles.js";
import { loadConfig } from "../lib/config.js";
import { UsageError } from "./exit-codes.js";

type Env = Record<string, string | undefined>;

/**
 * Runs `fn` on the database to migrate, as its owner: MIGRATION_DATABASE_URL,
 * else DIRECT_DATABASE_URL (DATABASE_URL may be an Accelerate URL, which
 * cannot run DDL), else DATABASE_URL, else the embedded PostgreSQL that
 * `npm start` uses (started for the command, then stopped).
 */
export async function withMigrationDatabase<T>(fn: (url: string) => Promise<T>, env: Env = process.env): Promise<T> {
  const url = env.MIGRATION_DATABASE_URL || env.DIRECT_DATABASE_URL || env.DATABASE_URL;
  if (url) {
    if (!/^postgres(ql)?:\/\//i.test(url)) {
      throw new UsageError("DATABASE_URL is not a postgres:// URL (Accelerate?): set DIRECT_DATABASE_URL for migrations");
    }
    return fn(url);
  }
  const config = loadConfig(env);
  const embedded = await startEmbeddedPostgres({ dataDir: config.embeddedDataDir, port: config.embeddedPort });
  try {
    return await fn(embedded.adminUrl);
  } finally {
    await embedded.stop();
  }
}

/** Makes the login role of DATABASE_URL (when it is another postgres:// role) a member of ledger_runtime; says what it did. */
async function grantToService(migrationUrl: string, env: Env): Promise<string | undefined> {
  const runtimeUrl = env.DATABASE_URL ?? "";
  if (!/^postgres(ql)?:\/\//i.test(runtimeUrl)) return undefined;
  const runtime = loginRoleOf(runtimeUrl);
  if (!runtime || runtime === loginRoleOf(migrationUrl)) return undefined;
  const failure = await grantRuntimeRole(migrationUrl, runtime);
  return failure ? `Warning: ${failure}; run it by hand as the tables' owner.` : `Granted ${RUNTIME_ROLE} to ${runtime}.`;
}

/** Applies pending migrations and grants the service's role; returns the lines to print. */
export async function deploy(env: Env = process.env): Promise<string[]> {
  const { applied, grant } = await withMigrationDatabase(
    async (url) => ({ ...(await applyPendingMigrations(url)), grant: await grantToService(url, env) }),
    env,
  );
  return [applied.length ? `Applied:\n  ${applied.join("\n  ")}` : "No pending migrations.", ...(grant ? [grant] : [])];
}

/** The migrations the database has not applied (empty: up to date). */
export function pending(env: Env = process.env): Promise<string[]> {
  return withMigrationDatabase((url) => listPendingMigrations(url), env);
}

export const describePending = (names: string[]) => (names.length ? `Pending:\n  ${names.join("\n  ")}` : "Database is up to date.");
