/**
 * Every statement on the request path and in the background jobs finds its
 * rows by index, so a call costs the same however long the ledger's history:
 * against a seeded history (100k transfers with 200k entries, 100k
 * idempotency keys, 100k sealed audit events written by one transaction; 10k
 * users, accounts and external identities; 20k holds), with generic plans
 * from the first execution (what prepared statements switch to after five),
 * a few hundred calls and the background jobs make no sequential scan of
 * those tables and read a small constant number of rows per call. No timing
 * is measured: PostgreSQL's own per-table access counters are.
 *
 * Then the reads whose cost could follow history instead of the page
 * (index-only-reads.ts: balance as of a time, journal pages in a time range,
 * events by action or time only, accounts by currency only, users by
 * creation time or handle prefix), one family per service run, each held to
 * a few index entries per row of its pages; and every read statement they
 * sent is run again under its generic plan with the values it was sent with.
 *
 * Left as they are: VerifyChain of the whole chain (every seal, by design),
 * and a handle prefix reads the users whose handle has it (pages are in id
 * order, handles are not).
 */
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCachePolicy } from "../../src/server/compose.js";
import { INSERT_SEALS_SQL, SEALABLE_EVENTS_SQL, UNSEALED_PROBE_SQL, UNSEALED_STATS_SQL } from "../../src/store/audit-sql.js";
import { CLAIM_AND_LOCK_SQL, WRITE_SQL } from "../../src/store/ledger-sql.js";
import { prefixRange } from "../../src/store/identity-store.js";
import { POST_TRANSFERS_SQL } from "../../src/store/transfer-statement.js";
import { createLedgerStore } from "../../src/store/ledger-store.js";
import { ACCOUNTS_BY_CURRENCY_SQL, EVENTS_BY_TIME_SQL, USERS_BY_CREATION_SQL, USERS_BY_HANDLE_PREFIX_SQL } from "../../src/store/page-sql.js";
import { BIG_TABLES, seedBigLedger, seededUser, settledStats, statsDelta } from "../support/big-ledger.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { expectBooksBalance } from "../support/ledger.js";
import { rowsReadUnderGenericPlan, seqScansOf } from "../support/plans.js";
import { startTestServer, testDatabasePath, type TestServer } from "../support/server.js";
import { recordSql } from "../support/sql-recorder.js";
import { ISSUANCE_USD, READ_FAMILIES, readClients, type SeedClock } from "./index-only-reads.js";
import { runWorkload } from "./index-only-workload.js";

/**
 * Rows a call may read through indexes, on average. A transfer reads a few
 * per table (key, two accounts and their owners, foreign keys, its seal); a
 * page of ten entries or events reads about ten. One scan of a seeded table
 * would read 10,000 to 200,000.
 */
const MAX_ROWS_PER_CALL = 50;

/**
 * Index entries (and heap rows) a read call of a family may read: a few per
 * row of its page (the row, the next page's first row, the cursor's
 * neighbour, the account the page belongs to, a ListTransfers page's
 * transfers and their two entries each). Reads that follow history read
 * thousands per call here.
 */
const readBudget = (pageSize: number) => 4 * (pageSize + 1) + 10;

/** Rows one read statement of the families may read under its generic plan: its page (at most 11 rows here) and a few more. */
const MAX_ROWS_PER_READ_STATEMENT = 50;

const PAGE_STATEMENTS = { ACCOUNTS_BY_CURRENCY_SQL, EVENTS_BY_TIME_SQL, USERS_BY_CREATION_SQL, USERS_BY_HANDLE_PREFIX_SQL };
const FIXED_STATEMENTS = {
  CLAIM_AND_LOCK_SQL,
  POST_TRANSFERS_SQL,
  WRITE_SQL,
  UNSEALED_PROBE_SQL,
  SEALABLE_EVENTS_SQL,
  UNSEALED_STATS_SQL,
  INSERT_SEALS_SQL,
  ...PAGE_STATEMENTS,
};

/**
 * The page statements with a first page and a deep cursor in big ranges;
 * and the reads as the issue found them (Prisma's queries, reduced to their
 * shape) with the same values, where their cost is the range's whatever
 * plan is chosen: in id order, not in the order of the index that bounds them.
 */
function pageCases(clock: SeedClock) {
  const at = (n: number) => new Date(clock.seededAtMs - 24 * 3600_000 + n * 500);
  const daysAgo = (d: number) => new Date(clock.seededAtMs - d * 24 * 3600_000);
  const page: [string, string, unknown[]][] = [
    ["accounts in EUR", ACCOUNTS_BY_CURRENCY_SQL, ["EUR", null, null, 11]],
    ["accounts in USD, after a seeded one", ACCOUNTS_BY_CURRENCY_SQL, ["USD", null, seededUser(5000).accountId, 11]],
    ["events in 40,000", EVENTS_BY_TIME_SQL, [at(20_000), at(60_000), null, 11]],
    ["events in 40,000, after the 20,000th", EVENTS_BY_TIME_SQL, [at(20_000), at(60_000), 40_000n, 11]],
    ["users in 10,000", USERS_BY_CREATION_SQL, [daysAgo(3), daysAgo(1), null, null, null, null, 11]],
    ["users in 10,000, after one", USERS_BY_CREATION_SQL, [daysAgo(3), daysAgo(1), seededUser(5000).userId, null, null, null, 11]],
    ["users by a rare prefix", USERS_BY_HANDLE_PREFIX_SQL, [...prefixRange("seed999"), null, null, 6]],
  ];
  const issue: [string, string, unknown[]][] = [
    ["balance as of a time", "SELECT id FROM entries WHERE account_id = $1 AND created_at <= $2 ORDER BY id DESC LIMIT 1", [ISSUANCE_USD, at(2_000)]],
    ["entries in a range", "SELECT id FROM entries WHERE account_id = $1 AND created_at >= $2 AND created_at < $3 ORDER BY id DESC LIMIT $4", [ISSUANCE_USD, at(2_000), at(6_000), 11]],
    ["events in a range", "SELECT id FROM audit_events WHERE occurred_at >= $1 AND occurred_at < $2 ORDER BY id LIMIT $3", [at(20_000), at(60_000), 11]],
    ["users in a range", "SELECT id FROM users WHERE created_at >= $1 AND created_at < $2 ORDER BY id LIMIT $3", [daysAgo(3), daysAgo(1), 11]],
    ["users by a prefix", "SELECT id FROM users WHERE handle LIKE $1 ORDER BY id LIMIT $2", ["seed999%", 6]],
  ];
  return { page, issue };
}

/** A distinctive piece of each raw statement written inline in ledger-tx, ledger-store, write-tx and identity-store. */
const RAW_STATEMENT_FRAGMENTS = [
  "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING created_at",
  "FROM accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE",
  "FROM users WHERE id = $1::uuid FOR SHARE",
  "FROM holds WHERE id = $1::uuid FOR UPDATE",
  "FROM transfers WHERE id = $1::uuid FOR UPDATE",
  "WHERE status = 'PENDING' AND expires_at <= now()",
  "SELECT min(expires_at) FROM holds",
  "DELETE FROM idempotency_keys",
  "FROM users WHERE id = $1::uuid FOR UPDATE",
  "FROM users WHERE lower(email) = lower($1)",
];

const zeroScans = Object.fromEntries(BIG_TABLES.map((t) => [t, 0]));
const isBig = (table: string) => (BIG_TABLES as readonly string[]).includes(table);

let database: TestDatabase;
/** The test's own connection: it reads statistics views and plans, never a seeded table's rows. */
let observer: pg.Client;
/** When the seed ran: its rows' times are relative to it. */
let seedClock: SeedClock;
/** Every statement the service sent (direct path), and a few parameter lists of those the read families sent. */
const sentStatements = new Set<string>();
const readSamples = new Map<string, unknown[][]>();

/** Stops the service and whatever stands between it and PostgreSQL, keeping the database. */
async function stopService(server: TestServer): Promise<void> {
  await server.stop();
  await server.executor?.stop();
}

beforeAll(async () => {
  database = await createTestDatabase();
  observer = new pg.Client({ connectionString: database.url });
  await observer.connect();
  // Before the service's first connection: every session it opens plans generically from the start.
  await observer.query(`ALTER DATABASE ${database.name} SET plan_cache_mode = force_generic_plan`);
  seedClock = { seededAtMs: Date.now() };
  await seedBigLedger(database.url);
}, 120_000);

afterAll(async () => {
  await observer?.end();
  await database?.drop();
});

describe("against a ledger with history, under generic plans", () => {
  it("a few hundred calls and the background jobs read every big table by index only, a few rows per call", async () => {
    const before = await settledStats(observer);
    const recorder = recordSql([observer]);
    const server = await startTestServer({}, database);
    let calls: number;
    try {
      const [setting] = await server.db.$queryRawUnsafe<{ mode: string }[]>("SELECT current_setting('plan_cache_mode') AS mode");
      expect(setting?.mode).toBe("force_generic_plan");
      const store = createLedgerStore(server.db, { cache: buildCachePolicy(server.db, server.config, pino({ level: "silent" })) });
      const retentionMs = server.config.idempotencyKeyRetentionHours * 3_600_000;
      ({ calls } = await runWorkload(server, () => store.purgeIdempotencyKeys(new Date(Date.now() - retentionMs), 1000)));
    } finally {
      await stopService(server);
      recorder.stop();
    }
    for (const sql of recorder.statements()) sentStatements.add(sql);
    const delta = statsDelta(before, await settledStats(observer));
    const perCall = (n: number) => Math.round((n / calls) * 10) / 10;
    console.log(`${calls} calls (${testDatabasePath()} path); per table: seq_scan, seq_tup_read, idx_scan, idx_tup_fetch, idx_tup_read (per call)`);
    for (const [table, d] of Object.entries(delta)) {
      console.log(`  ${table}: ${d.seqScan}, ${d.seqTupRead}, ${d.idxScan}, ${d.idxTupFetch} (${perCall(d.idxTupFetch)}), ${d.idxTupRead} (${perCall(d.idxTupRead)})`);
    }

    expect(calls).toBeGreaterThan(250);
    // Proof that the counters saw the workload (an unflushed or wrong database reads as all zeros).
    for (const table of BIG_TABLES) expect(delta[table]!.idxScan, table).toBeGreaterThan(0);
    expect(Object.fromEntries(Object.entries(delta).map(([t, d]) => [t, d.seqScan]))).toEqual(zeroScans);
    const fetched = Object.values(delta).reduce((sum, d) => sum + d.idxTupFetch, 0);
    const read = Object.values(delta).reduce((sum, d) => sum + d.idxTupRead, 0);
    console.log(`  all tables: ${perCall(fetched)} rows fetched and ${perCall(read)} index entries read per call`);
    expect(fetched / calls).toBeLessThan(MAX_ROWS_PER_CALL);
    expect(read / calls).toBeLessThan(MAX_ROWS_PER_CALL);
  });

  it.each(READ_FAMILIES.map((family) => [family.name, family] as const))("%s: a few index entries per row of its pages", async (_name, family) => {
    const before = await settledStats(observer);
    const recorder = recordSql([observer]);
    const server = await startTestServer({}, database);
    let calls: number;
    try {
      calls = await family.run(readClients(server), seedClock);
    } finally {
      await stopService(server);
      recorder.stop();
    }
    for (const sql of recorder.statements()) {
      sentStatements.add(sql);
      if (/^\s*(SELECT|WITH)\b/i.test(sql)) readSamples.set(sql, [...(readSamples.get(sql) ?? []), ...recorder.samples(sql)].slice(0, 20));
    }
    const delta = statsDelta(before, await settledStats(observer));
    const total = (pick: (d: (typeof delta)[string]) => number) => Object.values(delta).reduce((sum, d) => sum + pick(d), 0);
    const read = total((d) => d.idxTupRead) / calls;
    const fetched = total((d) => d.idxTupFetch) / calls;
    console.log(`${family.name}: ${calls} calls of ${family.pageSize} rows; per call ${read.toFixed(1)} index entries read, ${fetched.toFixed(1)} rows fetched`);
    expect(Object.fromEntries(Object.entries(delta).map(([t, d]) => [t, d.seqScan]))).toEqual(zeroScans);
    expect(read).toBeGreaterThan(0);
    expect(read).toBeLessThanOrEqual(readBudget(family.pageSize));
    expect(fetched).toBeLessThanOrEqual(readBudget(family.pageSize));
  });

  it("every read statement of those families, run again under its generic plan with the values it was sent, reads a page's worth of rows", async (context) => {
    if (testDatabasePath() === "accelerate") return context.skip();
    expect(readSamples.size).toBeGreaterThan(5);
    const heavy: { sql: string; rows: number }[] = [];
    let replayed = 0;
    for (const [sql, samples] of readSamples) {
      for (const values of samples) {
        const rows = await rowsReadUnderGenericPlan(observer, sql, values, BIG_TABLES);
        replayed += 1;
        if (rows > MAX_ROWS_PER_READ_STATEMENT) heavy.push({ sql: sql.replace(/\s+/g, " ").slice(0, 300), rows });
      }
    }
    console.log(`${readSamples.size} read statements replayed ${replayed} times`);
    expect(heavy).toEqual([]);
  });

  it("each page statement, under its generic plan, reads a page's worth of rows deep in a big range; the issue's forms read the range", async () => {
    const { page, issue } = pageCases(seedClock);
    const rowsOf = async (cases: [string, string, unknown[]][]) => {
      const rows: Record<string, number> = {};
      for (const [name, sql, values] of cases) rows[name] = await rowsReadUnderGenericPlan(observer, sql, values, BIG_TABLES);
      return rows;
    };
    const pageRows = await rowsOf(page);
    const issueRows = await rowsOf(issue);
    console.log("rows read under generic plans:", pageRows, issueRows);
    for (const [name, rows] of Object.entries(pageRows)) expect(rows, name).toBeLessThanOrEqual(MAX_ROWS_PER_READ_STATEMENT);
    for (const [name, rows] of Object.entries(issueRows)) expect(rows, name).toBeGreaterThan(10 * MAX_ROWS_PER_READ_STATEMENT);
  });

  it("the books still balance after the workload", async () => {
    // After the measurement: these checks read whole tables on purpose.
    await expectBooksBalance(database);
  });

  it.each(Object.entries(FIXED_STATEMENTS))("%s: its generic plan scans no big table", async (_name, sql) => {
    expect((await seqScansOf(observer, sql)).filter(isBig)).toEqual([]);
  });

  it("every statement the service sent during the workload: its generic plan scans no big table", async (context) => {
    // The Accelerate path's executor has its own driver: nothing to record (its SQL is the same).
    if (testDatabasePath() === "accelerate") return context.skip();
    const statements = [...sentStatements].filter((s) => /^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b/i.test(s));
    for (const sql of Object.values(FIXED_STATEMENTS)) expect(statements).toContain(sql);
    // The raw statements written inline in the stores were sent too (so they are explained below).
    for (const fragment of RAW_STATEMENT_FRAGMENTS) expect(statements.some((s) => s.includes(fragment)), fragment).toBe(true);
    const scanning: { sql: string; tables: string[] }[] = [];
    for (const sql of statements) {
      const tables = (await seqScansOf(observer, sql)).filter(isBig);
      if (tables.length > 0) scanning.push({ sql: sql.replace(/\s+/g, " ").slice(0, 300), tables });
    }
    console.log(`${statements.length} distinct statements explained`);
    expect(scanning).toEqual([]);
  });

  it("would catch the write statement of the issue: UPDATE … FROM jsonb_to_recordset, joined on the JSON rows only", async () => {
    // WRITE_SQL without its typed-array predicates is the statement the issue found scanning.
    const issueForm = WRITE_SQL.replace(/\w+\.\w+ = ANY\(\$\d+::\w+\[\]\)\s+AND\s+/g, "");
    expect(issueForm).not.toMatch(/ANY/);
    expect((await seqScansOf(observer, issueForm)).filter(isBig)).not.toEqual([]);
  });
});
