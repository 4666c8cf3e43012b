/**
 * Which database the CLI talks to, and the Prisma Client it does so through
 * (src/lib/prisma.ts, the one place a client is configured).
 *
 * The CLI connects directly to PostgreSQL, never through Accelerate: it reads
 * history in long snapshots, which Accelerate's 15 s transactions cannot
 * hold, and nothing it reads should come from a cache.
 * - Reads (verify-audit, reconcile, export-checkpoint): DATABASE_URL when it
 *   is a postgres:// URL, else DIRECT_DATABASE_URL; in read-only sessions
 *   (`default_transaction_read_only`), so a role with SELECT alone suffices.
 * - Writes (create-currency, migrate): MIGRATION_DATABASE_URL, else
 *   DIRECT_DATABASE_URL, else DATABASE_URL: the tables' owner, as for
 *   migrations (the service's own role may not insert currencies).
 */
import { createPrisma, type Db } from "../lib/prisma.js";
import { UsageError } from "./exit-codes.js";

type Env = Record<string, string | undefined>;

const isDirect = (url: string | undefined): url is string => url !== undefined && /^postgres(ql)?:\/\//i.test(url);

/** Connections the CLI opens at once: its work is sequential. */
const POOL_MAX = 2;
/** Each statement's bound: every statement of the CLI reads a bounded batch. */
const STATEMENT_TIMEOUT_MS = 30_000;
/** How long to wait for a connection before giving up (exit 3). */
const CONNECT_TIMEOUT_MS = 10_000;

/** The URL read-only commands use; throws a UsageError naming the variables when there is none. */
export function readUrl(env: Env = process.env): string {
  if (isDirect(env.DATABASE_URL)) return env.DATABASE_URL;
  if (isDirect(env.DIRECT_DATABASE_URL)) return env.DIRECT_DATABASE_URL;
  if (env.DATABASE_URL) {
    throw new UsageError("DATABASE_URL is not a postgres:// URL (Accelerate?): set DIRECT_DATABASE_URL to a postgres:// URL for the CLI");
  }
  throw new UsageError(
    "DATABASE_URL is not set: the CLI needs the postgres:// URL of the ledger's database " +
      "(the embedded PostgreSQL of `npm start` serves only while the service runs; only `migrate` starts it by itself)",
  );
}

/** The URL of the tables' owner, for commands that write reference data. */
export function ownerUrl(env: Env = process.env): string {
  const url = env.MIGRATION_DATABASE_URL || env.DIRECT_DATABASE_URL || env.DATABASE_URL;
  if (isDirect(url)) return url;
  if (url) throw new UsageError("MIGRATION_DATABASE_URL (or DIRECT_DATABASE_URL) must be a postgres:// URL of the tables' owner");
  throw new UsageError("MIGRATION_DATABASE_URL or DATABASE_URL must be set to the postgres:// URL of the tables' owner");
}

/** `url` with every session read-only: the server refuses any write, whatever the role may do. */
export function readOnly(url: string): string {
  const u = new URL(url);
  const options = [u.searchParams.get("options"), "-c default_transaction_read_only=on"].filter(Boolean).join(" ");
  u.searchParams.set("options", options);
  return u.toString();
}

/** A Prisma Client for the CLI: small pool, bounded statements and connection wait. */
export function connect(url: string, transactionTimeoutMs = 15_000): Db {
  return createPrisma({
    url,
    poolMax: POOL_MAX,
    statementTimeoutMs: STATEMENT_TIMEOUT_MS,
    transactionTimeoutMs,
    transactionMaxWaitMs: CONNECT_TIMEOUT_MS,
  });
}
