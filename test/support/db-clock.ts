/**
 * The database server's clock, the one entries, transfers and holds are
 * stamped with (in whole milliseconds). Tests that need "a moment between two
 * writes" read it here instead of sleeping against the test process's clock.
 */
import { until } from "./poll.js";
import type { TestDatabase } from "./db.js";

/** The database's clock now, in whole milliseconds since the epoch. */
export async function databaseNowMs(database: TestDatabase): Promise<number> {
  const { rows } = await database.sql<{ ms: string }>("SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint::text AS ms");
  return Number(rows[0]!.ms);
}

/**
 * Waits until the database's clock has passed `ms` and returns its reading:
 * anything written after this returns is stamped later than `ms`.
 */
export async function databaseClockPast(database: TestDatabase, ms: number, budgetMs = 5_000): Promise<number> {
  const now = await until(() => databaseNowMs(database), (t) => t > ms, budgetMs, 1);
  if (now <= ms) throw new Error(`the database clock did not pass ${new Date(ms).toISOString()} within ${budgetMs} ms`);
  return now;
}
