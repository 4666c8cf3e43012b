/**
 * What the metrics read from the database at scrape time: the background
 * jobs' backlog (unsealed audit events, holds past their expiry) and the
 * posted sum per currency. Each is one statement.
 *
 * Cost: the backlog reads follow the backlog, not the tables: the unsealed
 * events are an index range after the last seal (audit-sql.ts), the overdue
 * holds a range of the (status, expires_at) index. The per-currency sum
 * reads every account row (a sequential scan, O(accounts), never the
 * entries): the caller refreshes it at most every so often.
 */
import type { Db } from "../lib/prisma.js";
import { UNSEALED_STATS_SQL } from "./audit-sql.js";

export interface Backlog {
  /** The database's clock when read. */
  now: Date;
  /** Audit events written and not yet sealed, and when the oldest of them occurred. */
  unsealedCount: bigint;
  oldestUnsealed: Date | null;
  /** Pending holds past their expiry (the expiry job's work), and the earliest such expiry. */
  overdueHolds: bigint;
  oldestOverdue: Date | null;
}

const OVERDUE_HOLDS_SQL = `
  SELECT now() AS now, count(*) AS count, min(expires_at) AS oldest
  FROM holds WHERE status = 'PENDING' AND expires_at <= now()`;

const POSTED_BY_CURRENCY_SQL = `
  SELECT currency_code AS currency, sum(posted)::text AS posted FROM accounts GROUP BY currency_code`;

export async function readBacklog(db: Db): Promise<Backlog> {
  const [[holds], [audit]] = await Promise.all([
    db.$queryRawUnsafe<{ now: Date; count: bigint; oldest: Date | null }[]>(OVERDUE_HOLDS_SQL),
    db.$queryRawUnsafe<{ count: bigint; oldest: Date | null }[]>(UNSEALED_STATS_SQL),
  ]);
  return {
    now: holds!.now,
    unsealedCount: audit?.count ?? 0n,
    oldestUnsealed: audit?.oldest ?? null,
    overdueHolds: holds!.count,
    oldestOverdue: holds!.oldest,
  };
}

/** Σ posted of every account, per currency, in minor units (decimal text): zero when the books balance. */
export async function readPostedSums(db: Db): Promise<{ currency: string; posted: string }[]> {
  return db.$queryRawUnsafe<{ currency: string; posted: string }[]>(POSTED_BY_CURRENCY_SQL);
}
