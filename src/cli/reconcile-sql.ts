/**
 * The statements of `reconcile`. All run inside one REPEATABLE READ, read-only
 * transaction (one snapshot: the totals add up on a live ledger), and each
 * reads a bounded batch by index:
 * - accounts in id order, a page after the last id (the primary key);
 * - the entries of a page's id range in (account_id, id) order, a chunk
 *   after the last (account, entry) read, each paired with its account's
 *   previous version by index, folded per account in SQL so a chunk sends
 *   one row per account, not one per entry;
 * - pending holds summed per account, in account order, through a cursor:
 *   holds have no index by account, so they are read once (by the (status,
 *   expires_at) index) and grouped by PostgreSQL, and the CLI fetches the
 *   sums a batch at a time alongside the accounts.
 * Sums and differences are computed as numeric and sent as text: tampered
 * rows must not overflow bigint and stop the check.
 */

/**
 * Columns of an account the check compares. (Ordering is always by the
 * qualified uuid column: a bare ORDER BY id would sort by the text alias, in
 * the collation's order and without the index.)
 */
const ACCOUNT_COLUMNS = "id::text AS id, currency_code, posted::text AS posted, pending_debit::text AS pending_debit, pending_credit::text AS pending_credit, version::text AS version";

/** The first page of accounts. $1: page size. */
export const FIRST_ACCOUNTS_SQL = `SELECT ${ACCOUNT_COLUMNS} FROM accounts a ORDER BY a.id LIMIT $1`;

/** The page of accounts after id $1. $2: page size. */
export const NEXT_ACCOUNTS_SQL = `SELECT ${ACCOUNT_COLUMNS} FROM accounts a WHERE a.id > $1::uuid ORDER BY a.id LIMIT $2`;

/** The planner's estimate of the number of accounts, for the progress display only (-1 or 0: unknown). */
export const ACCOUNTS_ESTIMATE_SQL = "SELECT reltuples::bigint AS estimate FROM pg_class WHERE oid = 'accounts'::regclass";

/**
 * One chunk of entries after ($1 account, $2 entry id), up to account $3
 * inclusive, at most $4 entries, in (account_id, id) order (that index
 * delivers the order, so the chunk reads only its own rows), folded per
 * account. Each entry is paired with its account's previous version by the
 * unique (account_id, account_version) index (one probe; LIMIT 1 keeps it a
 * probe, never a join over the table), so nothing depends on the order the
 * entries come in or on where a chunk ends. (`account_id >= $1` repeats what
 * the row comparison implies: a generic plan, blind to the values, rates a
 * two-sided range as a few rows and walks the index, a one-sided bound as a
 * third of the table and scans it.)
 * - entries, max_version, amount_sum, last_id (the cursor);
 * - missing_version: the lowest v - 1 that is absent while v (> 1) is there;
 * - chain_break: the lowest version whose balance_after is not its
 *   predecessor's balance_after plus its amount (for version 1: its amount).
 */
export const ENTRY_CHUNK_SQL = `
  WITH chunk AS (
    SELECT e.account_id, e.id, e.account_version AS v, e.amount, e.balance_after
    FROM entries e
    WHERE (e.account_id, e.id) > ($1::uuid, $2::bigint) AND e.account_id >= $1::uuid AND e.account_id <= $3::uuid
    ORDER BY e.account_id, e.id
    LIMIT $4
  )
  SELECT c.account_id::text AS account_id,
         count(*)::text AS entries,
         max(c.v)::text AS max_version,
         sum(c.amount::numeric)::text AS amount_sum,
         max(c.id)::text AS last_id,
         min(c.v - 1) FILTER (WHERE c.v > 1 AND p.balance_after IS NULL)::text AS missing_version,
         min(c.v) FILTER (WHERE c.balance_after::numeric <> coalesce(p.balance_after::numeric, CASE WHEN c.v = 1 THEN 0 END) + c.amount)::text AS chain_break
  FROM chunk c
  LEFT JOIN LATERAL (
    SELECT pe.balance_after FROM entries pe WHERE pe.account_id = c.account_id AND pe.account_version = c.v - 1 LIMIT 1
  ) p ON true
  GROUP BY c.account_id
  ORDER BY c.account_id`;

/** Pending holds summed per account, in account order: what each account's pending columns must be. */
export const PENDING_HOLD_SUMS_SQL = `
  SELECT h.account_id::text AS account_id, sum(h.debit)::text AS pending_debit, sum(h.credit)::text AS pending_credit
  FROM (SELECT debit_account_id AS account_id, amount::numeric AS debit, 0::numeric AS credit FROM holds WHERE status = 'PENDING'
        UNION ALL
        SELECT credit_account_id, 0, amount FROM holds WHERE status = 'PENDING') AS h
  GROUP BY h.account_id
  ORDER BY h.account_id`;

/** The cursor the sums are fetched through, a batch at a time. */
export const HOLDS_CURSOR = "lor_reconcile_pending_holds";
export const DECLARE_HOLDS_CURSOR_SQL = `DECLARE ${HOLDS_CURSOR} NO SCROLL CURSOR FOR ${PENDING_HOLD_SUMS_SQL}`;

/** The next $n sums of the holds cursor (a literal count: FETCH takes no parameter). */
export const fetchHoldsSql = (n: number) => `FETCH FORWARD ${Math.trunc(n)} FROM ${HOLDS_CURSOR}`;

export interface AccountRow {
  id: string;
  currency_code: string;
  posted: string;
  pending_debit: string;
  pending_credit: string;
  version: string;
}

export interface EntryChunkRow {
  account_id: string;
  entries: string;
  max_version: string;
  amount_sum: string;
  last_id: string;
  missing_version: string | null;
  chain_break: string | null;
}

export interface HoldSumRow {
  account_id: string;
  pending_debit: string;
  pending_credit: string;
}
