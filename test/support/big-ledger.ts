/**
 * A ledger with history, for tests about how statements scale: users,
 * accounts, transfers with their entries, holds, idempotency keys and audit
 * events, seeded in one set-based transaction straight into PostgreSQL, and
 * the per-table access counters of pg_stat_user_tables.
 */
import { createHash } from "node:crypto";
import pg from "pg";
import { chainHash, hex, ZERO_HASH } from "../../src/domain/audit/chain.js";
import type { AuditPayload } from "../../src/domain/audit/types.js";
import { INSERT_SEALS_SQL } from "../../src/store/audit-sql.js";

/** How much history the seed writes. */
export const SEED = {
  /** Users, each with one USD account (its default wallet) and one external identity. */
  users: 10_000,
  /** Transfers (two entries each): one mint per account from issuance, then a ring of 1-unit payments. */
  transfers: 100_000,
  /** Settled (voided) holds between seeded accounts. */
  holds: 20_000,
  /** Idempotency keys within retention, across the real scopes. */
  keys: 100_000,
  /** Idempotency keys past retention (10 days old), for the purge. */
  expiredKeys: 100,
  /** Audit events, all written by one transaction, and sealed (chained as the sealer does). */
  events: 100_000,
  /** Each account's mint. */
  mintAmount: 1_000_000n,
};

/** The tables whose reads must go through an index. */
export const BIG_TABLES = [
  "accounts",
  "idempotency_keys",
  "transfers",
  "entries",
  "holds",
  "audit_events",
  "audit_seals",
  "users",
  "external_identities",
] as const;

/** PostgreSQL's md5(text)::uuid, in JS: how the seed names its rows. */
export function seededUuid(text: string): string {
  const h = createHash("md5").update(text).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The k-th seeded user (1-based), with its account. */
export function seededUser(k: number) {
  return {
    userId: seededUuid(`seed-user-${k}`),
    accountId: seededUuid(`seed-account-${k}`),
    handle: `seed${k}`,
    email: `seed${k}@example.com`,
    external: { provider: "https://idp.example", subject: `seed-${k}` },
  };
}

/** The t-th seeded transfer (1-based) and its idempotency key. */
export function seededTransfer(t: number) {
  return { id: seededUuid(`seed-transfer-${t}`), idempotencyKey: `seed-${t}` };
}

/**
 * Per account k: mint k (transfer k ≤ users) from USD issuance, then ring
 * transfers t > users, each moving 1 from account (t mod n) + 1 to account
 * (t + 1 mod n) + 1. Entries carry the running balance and version, and
 * every account's posted balance and version match its entries.
 */
const seedSql = ({ users, transfers, holds, keys, expiredKeys, events, mintAmount } = SEED) => `
  BEGIN;

  INSERT INTO accounts (id, owner_type, owner_id, currency_code, label, is_default, status, min_balance, created_at, updated_at)
  SELECT md5('seed-account-' || k)::uuid, 'USER', md5('seed-user-' || k)::uuid::text, 'USD', '', true, 'ACTIVE', 0,
         now() - interval '2 days', now() - interval '2 days'
  FROM generate_series(1, ${users}) k;

  INSERT INTO users (id, handle, email, display_name, status, version, default_account_id, created_at, updated_at)
  SELECT md5('seed-user-' || k)::uuid, 'seed' || k, 'seed' || k || '@example.com', 'Seed ' || k, 'ACTIVE', 1,
         md5('seed-account-' || k)::uuid, now() - interval '2 days', now() - interval '2 days'
  FROM generate_series(1, ${users}) k;

  INSERT INTO external_identities (provider, subject, user_id, created_at)
  SELECT 'https://idp.example', 'seed-' || k, md5('seed-user-' || k)::uuid, now() - interval '2 days'
  FROM generate_series(1, ${users}) k;

  CREATE TEMP TABLE seed_transfers ON COMMIT DROP AS
  SELECT t, md5('seed-transfer-' || t)::uuid AS id,
         CASE WHEN t <= ${users} THEN md5('system:issuance:USD')::uuid ELSE md5('seed-account-' || (t % ${users} + 1))::uuid END AS debit,
         CASE WHEN t <= ${users} THEN md5('seed-account-' || t)::uuid ELSE md5('seed-account-' || ((t + 1) % ${users} + 1))::uuid END AS credit,
         CASE WHEN t <= ${users} THEN ${mintAmount} ELSE 1 END AS amount,
         now() - interval '1 day' + t * interval '500 ms' AS at
  FROM generate_series(1, ${transfers}) t;

  INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, currency_code, amount, idempotency_key, memo, created_at)
  SELECT id, 'TRANSFER', debit, credit, 'USD', amount, 'seed-' || t, '', at FROM seed_transfers;

  INSERT INTO entries (id, transfer_id, account_id, amount, balance_after, account_version, created_at)
  SELECT id, transfer_id, account_id, amount, sum(amount) OVER w, row_number() OVER w, at
  FROM (SELECT 2 * t - 1 AS id, id AS transfer_id, debit AS account_id, -amount AS amount, at FROM seed_transfers
        UNION ALL SELECT 2 * t, id, credit, amount, at FROM seed_transfers) e
  WINDOW w AS (PARTITION BY account_id ORDER BY id);
  SELECT setval(pg_get_serial_sequence('entries', 'id'), (SELECT max(id) FROM entries));

  UPDATE accounts a SET posted = s.total, version = s.n
  FROM (SELECT account_id, sum(amount) AS total, count(*) AS n FROM entries GROUP BY account_id) s WHERE s.account_id = a.id;

  INSERT INTO holds (id, debit_account_id, credit_account_id, currency_code, amount, status, expires_at, idempotency_key, created_at, updated_at)
  SELECT md5('seed-hold-' || h)::uuid, md5('seed-account-' || (h % ${users} + 1))::uuid, md5('seed-account-' || ((h + 1) % ${users} + 1))::uuid,
         'USD', 1, 'VOIDED', now() - interval '1 day' + h * interval '1 s', 'seed-hold-' || h, now() - interval '1 day', now() - interval '1 day'
  FROM generate_series(1, ${holds}) h;

  INSERT INTO idempotency_keys (scope, key, request_hash, response, created_at, user_id)
  SELECT (ARRAY['ledger.Transfer', 'ledger.TransferBatch', 'ledger.CreateHold', 'identity.CreateUser', 'audit.Append'])[i % 5 + 1],
         'seed-' || i, '\\x00'::bytea, '\\x00'::bytea,
         CASE WHEN i <= ${expiredKeys} THEN now() - interval '10 days' ELSE now() - interval '1 day' + i * interval '500 ms' END,
         CASE WHEN i % 10 = 3 THEN md5('seed-user-' || (i % ${users} + 1))::uuid END
  FROM generate_series(1, ${keys + expiredKeys}) i;

  INSERT INTO audit_events (occurred_at, actor, action, resource_type, resource_id, request_id, idempotency_key, payload)
  SELECT date_trunc('milliseconds', now() - interval '1 day' + i * interval '500 ms'), 'seed', 'ledger.transfer', 'transfer',
         md5('seed-transfer-' || i)::uuid::text, 'seed-' || i, 'seed-' || i, jsonb_build_object('amount', '1')
  FROM generate_series(1, ${events}) i;

  COMMIT`;

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Writes the history in one transaction (a few seconds), seals its events, then ANALYZE. */
export async function seedBigLedger(url: string): Promise<void> {
  await withClient(url, async (client) => {
    // One simple query, many statements: the numbers are the seed's own constants.
    await client.query(seedSql());
    await sealAll(client);
  });
  await analyze(url);
}

/**
 * Chains every event, in the sealer's order and with its hash (so VerifyChain
 * checks them), without the service: before the measurement, and whatever
 * the sealer's own statements cost.
 */
async function sealAll(client: pg.Client): Promise<void> {
  const { rows } = await client.query(
    "SELECT id, occurred_at, actor, action, resource_type, resource_id, request_id, idempotency_key, payload FROM audit_events ORDER BY xid, id",
  );
  let prev: Uint8Array = ZERO_HASH;
  const columns: [string[], string[], string[], string[]] = [[], [], [], []];
  for (const [i, r] of rows.entries()) {
    const seq = BigInt(i + 1);
    const event = {
      id: BigInt(r.id),
      occurredAt: r.occurred_at as Date,
      actor: r.actor as string,
      onBehalfOf: (r.on_behalf_of as string | null) ?? null,
      action: r.action as string,
      resourceType: r.resource_type as string,
      resourceId: r.resource_id as string,
      requestId: r.request_id as string,
      idempotencyKey: r.idempotency_key as string | null,
      payload: r.payload as AuditPayload,
    };
    const hash = chainHash(prev, event, seq);
    columns[0].push(seq.toString());
    columns[1].push(event.id.toString());
    columns[2].push(hex(prev));
    columns[3].push(hex(hash));
    prev = hash;
  }
  await client.query(INSERT_SEALS_SQL, columns);
}

export async function analyze(url: string): Promise<void> {
  await withClient(url, (client) => client.query(`ANALYZE ${BIG_TABLES.join(", ")}`));
}

/** One table's access counters. */
export interface TableCounters {
  seqScan: number;
  seqTupRead: number;
  idxScan: number;
  /** Heap rows fetched by index and bitmap scans. */
  idxTupFetch: number;
  /** Index entries returned by all of the table's indexes (index-only scans included). */
  idxTupRead: number;
}

export type StatsSnapshot = Record<string, TableCounters>;

const STATS_SQL = `
  SELECT t.relname, t.seq_scan, t.seq_tup_read, coalesce(t.idx_scan, 0) AS idx_scan, coalesce(t.idx_tup_fetch, 0) AS idx_tup_fetch,
         (SELECT coalesce(sum(i.idx_tup_read), 0) FROM pg_stat_user_indexes i WHERE i.relid = t.relid) AS idx_tup_read
  FROM pg_stat_user_tables t WHERE t.relname = ANY ($1::text[])`;

/** The counters of the big tables, as flushed so far. Reads only statistics views. */
export async function readStats(client: pg.Client): Promise<StatsSnapshot> {
  const { rows } = await client.query(STATS_SQL, [[...BIG_TABLES]]);
  return Object.fromEntries(
    rows.map((r) => [
      r.relname as string,
      { seqScan: +r.seq_scan, seqTupRead: +r.seq_tup_read, idxScan: +r.idx_scan, idxTupFetch: +r.idx_tup_fetch, idxTupRead: +r.idx_tup_read },
    ]),
  );
}

/**
 * The counters once every other backend of the database has gone and what
 * they flushed on exit has landed: polls until no other backend is connected
 * and two reads in a row agree.
 */
export async function settledStats(client: pg.Client, budgetMs = 20_000): Promise<StatsSnapshot> {
  const end = Date.now() + budgetMs;
  let previous = "";
  for (;;) {
    const { rows } = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    );
    const stats = await readStats(client);
    const now = JSON.stringify(stats);
    if (rows[0]!.n === 0 && now === previous) return stats;
    if (Date.now() > end) throw new Error(`statistics did not settle within ${budgetMs} ms (${rows[0]!.n} other backends)`);
    previous = rows[0]!.n === 0 ? now : "";
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function statsDelta(before: StatsSnapshot, after: StatsSnapshot): StatsSnapshot {
  return Object.fromEntries(
    Object.entries(after).map(([table, a]) => {
      const b = before[table]!;
      return [
        table,
        {
          seqScan: a.seqScan - b.seqScan,
          seqTupRead: a.seqTupRead - b.seqTupRead,
          idxScan: a.idxScan - b.idxScan,
          idxTupFetch: a.idxTupFetch - b.idxTupFetch,
          idxTupRead: a.idxTupRead - b.idxTupRead,
        },
      ];
    }),
  );
}
