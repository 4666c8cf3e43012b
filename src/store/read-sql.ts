/**
 * The hottest reads as fixed statements: one primary-key lookup each, sent
 * as raw SQL through the one Prisma client. A model query costs about
 * 0.5 ms more CPU per call here (bench/read-cpu.ts); these are used wherever
 * no cache can answer (STRONG reads, and every read on a direct connection,
 * which ignores cache directives). EVENTUAL reads on Accelerate keep the
 * model queries, which carry the cache directives. Concurrent reads share
 * one statement of the batch form (`… = ANY($1::uuid[])`, read-batch.ts); a
 * batch of one key, the case of a quiet service, sends the one-key form,
 * which PostgreSQL plans and runs for less.
 */

/** An account row's columns (without its owner's status), as accountOfColumns reads them. */
export const PLAIN_ACCOUNT_COLUMNS = `id, owner_type, owner_id, currency_code, status, min_balance, posted, pending_debit, pending_credit,
  version, label, is_default, created_at, updated_at`;

/**
 * One account by id (`$1`) with the journal position of its newest entry (0
 * when it has none), read in one statement so both are of one moment. The
 * position is one entry of the (account_id, id) index, read backwards.
 */
export const BALANCE_BY_ID_SQL = `SELECT ${PLAIN_ACCOUNT_COLUMNS},
  COALESCE((SELECT e.id FROM entries e WHERE e.account_id = $1::uuid ORDER BY e.id DESC LIMIT 1), 0) AS last_position
  FROM accounts WHERE id = $1::uuid`;

/**
 * Accounts by id (`$1`, a `uuid[]`), each with the journal position of its
 * newest entry: BALANCE_BY_ID_SQL for a batch of concurrent reads
 * (read-batch.ts). One primary-key lookup and one backward step of the
 * (account_id, id) index per id, under a generic plan too.
 */
export const BALANCES_BY_IDS_SQL = `SELECT ${PLAIN_ACCOUNT_COLUMNS},
  COALESCE((SELECT e.id FROM entries e WHERE e.account_id = a.id ORDER BY e.id DESC LIMIT 1), 0) AS last_position
  FROM accounts a WHERE a.id = ANY($1::uuid[])`;

/** One account by id (`$1`). */
export const ACCOUNT_BY_ID_SQL = `SELECT ${PLAIN_ACCOUNT_COLUMNS} FROM accounts WHERE id = $1::uuid`;

/** Accounts by id (`$1`, a `uuid[]`): ACCOUNT_BY_ID_SQL for a batch of concurrent reads. */
export const ACCOUNTS_BY_IDS_SQL = `SELECT ${PLAIN_ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($1::uuid[])`;
