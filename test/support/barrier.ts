/**
 * Deterministic interleavings against a real PostgreSQL: a row lock held from
 * the test's own connection stops whatever the service sends at that row,
 * and the test sees it waiting in pg_stat_activity before it goes on.
 */
import pg from "pg";
import type { TestDatabase } from "./db.js";
import { until } from "./poll.js";

export interface RowBarrier {
  /** Resolves once `count` of the service's backends wait on a lock. */
  waitForWaiters(count?: number): Promise<void>;
  /** Lets them through (commits the holder's transaction). */
  release(): Promise<void>;
}

const APP = "lor-test-barrier";

/** Locks the accounts FOR UPDATE in a transaction of the test's own, until `release()`. */
export async function lockAccountRow(database: TestDatabase, ...accountIds: string[]): Promise<RowBarrier> {
  const client = new pg.Client({ connectionString: database.url, application_name: APP });
  await client.connect();
  await client.query("BEGIN");
  await client.query("SELECT 1 FROM accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE", [accountIds]);
  let released = false;
  return {
    async waitForWaiters(count = 1) {
      const waiting = await until(
        async () =>
          (
            await database.sql<{ n: number }>(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND application_name <> $1",
              [APP],
            )
          ).rows[0]!.n,
        (n) => n >= count,
        10_000,
      );
      if (waiting < count) throw new Error(`expected ${count} backend(s) waiting on the barrier, saw ${waiting}`);
    },
    async release() {
      if (released) return;
      released = true;
      await client.query("COMMIT");
      await client.end();
    },
  };
}
