/**
 * `reconcile` on a ledger with history (test/support/big-ledger.ts: 10,000
 * accounts, 100,000 transfers, 20,000 settled holds): consistent, every
 * account and entry read; and each of its statements, under a generic plan
 * with the values a run sends, reads its batch by index, not the table.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENTRY_CHUNK_SQL, FIRST_ACCOUNTS_SQL, NEXT_ACCOUNTS_SQL, PENDING_HOLD_SUMS_SQL } from "../../src/cli/reconcile-sql.js";
import { seedBigLedger } from "../support/big-ledger.js";
import { runCli } from "../support/cli.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { rowsReadUnderGenericPlan, seqScansOf } from "../support/plans.js";

let database: TestDatabase;
let client: pg.Client;

beforeAll(async () => {
  database = await createTestDatabase();
  await seedBigLedger(database.url);
  // A few holds still pending, so the hold sums have something to read.
  await database.sql(`
    INSERT INTO holds (id, debit_account_id, credit_account_id, currency_code, amount, status, expires_at, idempotency_key, created_at, updated_at)
    SELECT md5('cli-hold-' || n)::uuid, d.id, c.id, 'USD', 5, 'PENDING', now() + interval '1 day', 'cli-hold-' || n, now(), now()
    FROM generate_series(1, 3) AS n,
         LATERAL (SELECT id FROM accounts WHERE owner_type = 'USER' AND currency_code = 'USD' ORDER BY id OFFSET n LIMIT 1) AS d,
         LATERAL (SELECT id FROM accounts WHERE owner_type = 'USER' AND currency_code = 'USD' ORDER BY id OFFSET n + 10 LIMIT 1) AS c;
    UPDATE accounts a SET pending_debit = a.pending_debit + h.amount FROM holds h WHERE h.status = 'PENDING' AND h.debit_account_id = a.id;
    UPDATE accounts a SET pending_credit = a.pending_credit + h.amount FROM holds h WHERE h.status = 'PENDING' AND h.credit_account_id = a.id;
    ANALYZE holds, accounts;`);
  client = new pg.Client({ connectionString: database.url });
  await client.connect();
});
afterAll(async () => {
  await client?.end();
  await database?.drop();
});

describe("reconcile on a ledger with history", () => {
  it("finds it consistent, having read every account and every entry", async () => {
    const run = await runCli(["reconcile", "--json"], { DATABASE_URL: database.url });
    expect(run.stderr).not.toContain("ledger-of-record:");
    expect(run.code).toBe(0);
    const { rows } = await database.sql("SELECT (SELECT count(*) FROM accounts)::text AS accounts, (SELECT count(*) FROM entries)::text AS entries");
    expect(JSON.parse(run.stdout.trim())).toEqual({ summary: { accounts: rows[0]!.accounts, entries: rows[0]!.entries, currencies: 3, differences: 0 } });
    expect(Number(rows[0]!.entries)).toBeGreaterThanOrEqual(200_000);
  });

  it("reads each page of accounts, chunk of entries and the pending holds by index", async () => {
    const page = 500;
    const { rows: ids } = await database.sql(`SELECT id::text FROM accounts ORDER BY id OFFSET 5000 LIMIT ${page + 1}`);
    const after = ids[0]!.id as string;
    const last = ids[page]!.id as string;
    const { rows: pendingRows } = await database.sql("SELECT count(*)::int AS n FROM holds WHERE status = 'PENDING'");
    const pending = pendingRows[0]!.n as number;
    expect(pending).toBe(3);

    for (const sql of [FIRST_ACCOUNTS_SQL, NEXT_ACCOUNTS_SQL, ENTRY_CHUNK_SQL, PENDING_HOLD_SUMS_SQL]) expect(await seqScansOf(client, sql)).toEqual([]);
    expect(await rowsReadUnderGenericPlan(client, FIRST_ACCOUNTS_SQL, [page], ["accounts"])).toBeLessThanOrEqual(page);
    expect(await rowsReadUnderGenericPlan(client, NEXT_ACCOUNTS_SQL, [after, page], ["accounts"])).toBeLessThanOrEqual(page);
    // A page's entries, a chunk at a time: each chunk reads its entries and, for each, one probe for
    // the version before it: at most twice its limit, wherever it starts.
    const chunk = 10_000;
    expect(await rowsReadUnderGenericPlan(client, ENTRY_CHUNK_SQL, [after, "-9223372036854775808", last, chunk], ["entries"])).toBeLessThanOrEqual(2 * chunk);
    expect(await rowsReadUnderGenericPlan(client, ENTRY_CHUNK_SQL, [after, "-9223372036854775808", last, 7], ["entries"])).toBeLessThanOrEqual(2 * 7);
    // Holds have no index by account: the sums read the pending ones (by (status, expires_at)), not the 20,000 settled.
    expect(await rowsReadUnderGenericPlan(client, PENDING_HOLD_SUMS_SQL, [], ["holds"])).toBeLessThanOrEqual(2 * pending);
  });
});
