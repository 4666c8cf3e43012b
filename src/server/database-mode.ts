/**
 * What the database mode means for pooling, limits and caching, said at
 * start-up so nobody is surprised: a direct client has no cache, and an
 * Accelerate deployment has limits of its own.
 */
import type { Logger } from "pino";
import type { Config } from "../lib/config.js";
import { excessOf, PRIVILEGES_SQL, RUNTIME_ROLE } from "../db/roles.js";
import type { Db } from "../lib/prisma.js";

/** Accelerate's documented defaults; larger settings also need raising in the Accelerate console. */
const ACCELERATE_LIMITS = { transactionTimeoutMs: 15_000, responseBytes: 5_000_000 } as const;

/** Says at start-up what the database mode means for pooling, limits and caching, so nobody is surprised. */
export function logDatabaseMode(config: Config, logger: Logger): void {
  if (config.databaseMode !== "accelerate") {
    logger.warn(
      { databaseMode: config.databaseMode },
      "Prisma Accelerate is off (direct PostgreSQL connection): the client ignores cacheStrategy and cache invalidation, so EVENTUAL reads are served from PostgreSQL",
    );
    return;
  }
  logger.info(
    { transactionTimeoutMs: config.dbTransactionTimeoutMs },
    "Prisma Accelerate: connection pool size and query timeout are Accelerate's (DB_POOL_MAX and DB_STATEMENT_TIMEOUT_MS apply to direct connections only)",
  );
  if (config.dbTransactionTimeoutMs > ACCELERATE_LIMITS.transactionTimeoutMs) {
    logger.warn(
      { transactionTimeoutMs: config.dbTransactionTimeoutMs, accelerateDefaultMs: ACCELERATE_LIMITS.transactionTimeoutMs },
      "DB_TRANSACTION_TIMEOUT_MS is above Accelerate's default interactive-transaction limit; raise that limit in the Accelerate console too",
    );
  }
  if (config.maxSendMessageBytes > ACCELERATE_LIMITS.responseBytes) {
    logger.warn({ maxSendMessageBytes: config.maxSendMessageBytes }, "MAX_SEND_MESSAGE_BYTES is above Accelerate's 5 MB response limit");
  }
}

/**
 * Accelerate's query limit gives up on a statement but cannot cancel it in
 * PostgreSQL; only a server-side statement_timeout can. Without one, a
 * statement stuck on a lock keeps its connection and locks after Accelerate
 * has given up. One query at start-up tells whether the connections
 * Accelerate opens carry one.
 */
export async function checkAccelerateStatementTimeout(db: Db, logger: Logger): Promise<void> {
  try {
    const [row] = await db.$queryRaw<{ timeout: string }[]>`SELECT current_setting('statement_timeout') AS timeout`;
    if (row?.timeout === "0") {
      logger.warn(
        "the database connections behind Accelerate have no statement_timeout: add options=-c statement_timeout=10000 to the connection string Accelerate uses (see README)",
      );
    }
  } catch (error) {
    logger.warn({ err: error }, "could not read statement_timeout through Accelerate");
  }
}

/** Thrown when the service's database role can do more than it needs under NODE_ENV=production. */
export class PrivilegedRoleError extends Error {}

/**
 * The service's own connection must be least-privileged: no superuser, not
 * the tables' owner (who could disable the audit log's triggers), no UPDATE,
 * DELETE or TRUNCATE on it. Otherwise: a warning, and under production a
 * refusal to start.
 */
export async function checkRuntimePrivileges(db: Db, production: boolean, logger: Logger): Promise<void> {
  const [row] = await db.$queryRawUnsafe<{ role: string; superuser: boolean | null; owner: boolean | null; audit_writable: boolean | null }[]>(PRIVILEGES_SQL);
  const { role, excess } = excessOf(row!);
  if (excess.length === 0) return;
  const message =
    `the service's database role ${role} ${excess.join("; ")}: run the service as a login role that is a member of ` +
    `${RUNTIME_ROLE} only, and migrations as the owner (MIGRATION_DATABASE_URL); see docs/SECURITY.md "Database roles"`;
  if (production) throw new PrivilegedRoleError(message);
  logger.warn({ role, excess }, message);
}
