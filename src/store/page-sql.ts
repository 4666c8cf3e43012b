/**
 * Listings that Prisma's model API cannot page by one index: each statement
 * reads its page as one keyset range of one index, so it reads about the
 * rows it returns, under generic plans too (every bound is a parameter or
 * an uncorrelated sub-select, evaluated once before the index is entered).
 * Fixed texts: each is one prepared statement per pooled connection.
 *
 * A cursor row's sort key is looked up by its primary key inside the
 * statement (one index entry), so page tokens keep carrying only its id.
 *
 * Each orders by the whole key of its index, so only that index delivers
 * the order: a generic plan is made before the values are known, and given
 * another way to the rows (a walk of the primary key, filtered) it may take
 * it for values it guesses common, which a rare value then pays for with the
 * whole table. A leading column compared for equality would drop out of the
 * order (PostgreSQL knows it is constant), so it is matched as a range
 * (`>= $1 AND <= $1`: the same rows).
 */

import { PLAIN_ACCOUNT_COLUMNS } from "./read-sql.js";

/** The smallest UUID: below every id, so `id >= it` bounds nothing. */
const NO_UUID = "'00000000-0000-0000-0000-000000000000'::uuid";



/**
 * Accounts in one currency, in id order, after `$3` (an id, or NULL for the
 * first page), at most `$4`; only status `$2` when not NULL. The index is
 * (currency_code, status, id): one id range per status (three at most),
 * each cut at the page size, merged. Reads at most 3 × `$4` index entries,
 * one more for the cursor row itself.
 */
export const ACCOUNTS_BY_CURRENCY_SQL = `
  SELECT a.* FROM unnest(CASE WHEN $2::account_status IS NULL THEN enum_range(NULL::account_status) ELSE ARRAY[$2::account_status] END) AS s (status)
  CROSS JOIN LATERAL (
    SELECT ${PLAIN_ACCOUNT_COLUMNS} FROM accounts
    WHERE currency_code >= $1 AND currency_code <= $1 AND status = s.status
      AND id >= coalesce($3::uuid, ${NO_UUID}) AND id IS DISTINCT FROM $3::uuid
    ORDER BY currency_code, id LIMIT $4
  ) a
  ORDER BY a.id LIMIT $4`;

/**
 * Audit events with `$1` <= occurred_at < `$2` (either NULL: unbounded), in
 * (occurred_at, id) order, after event `$3` (NULL for the first page), at
 * most `$4`, each with its seal (NULLs while unsealed). The index is
 * (occurred_at, id); the cursor's place in it is (its occurred_at, its id).
 * Event ids start at 1, so (t, 0) is just before every event at t.
 */
export const EVENTS_BY_TIME_SQL = `
  SELECT e.*, s.seq AS seal_seq, s.prev_hash AS seal_prev_hash, s.hash AS seal_hash, s.sealed_at AS seal_sealed_at
  FROM (
    SELECT id, occurred_at, actor, on_behalf_of, action, resource_type, resource_id, request_id, idempotency_key, payload
    FROM audit_events
    WHERE (occurred_at, id) > (
            CASE WHEN $3::bigint IS NULL THEN coalesce($1::timestamptz, '-infinity')
                 ELSE (SELECT c.occurred_at FROM audit_events c WHERE c.id = $3::bigint) END,
            coalesce($3::bigint, 0))
      AND occurred_at >= coalesce($1::timestamptz, '-infinity') AND occurred_at < coalesce($2::timestamptz, 'infinity')
    ORDER BY occurred_at, id LIMIT $4
  ) e
  LEFT JOIN audit_seals s ON s.event_id = e.id
  ORDER BY e.occurred_at, e.id`;

/**
 * Ids of users with `$1` <= created_at < `$2` (either NULL: unbounded), in
 * (created_at, id) order, which is id order (a user's id is a UUIDv7 of its
 * creation time), after user `$3` (NULL for the first page), at most `$7`;
 * only status `$4` and handles in [`$5`, `$6`) when not NULL. The index is
 * (created_at, id).
 */
export const USERS_BY_CREATION_SQL = `
  SELECT id FROM users
  WHERE (created_at, id) >= (
          CASE WHEN $3::uuid IS NULL THEN coalesce($1::timestamptz, '-infinity')
               ELSE (SELECT c.created_at FROM users c WHERE c.id = $3::uuid) END,
          coalesce($3::uuid, ${NO_UUID}))
    AND id IS DISTINCT FROM $3::uuid
    AND created_at >= coalesce($1::timestamptz, '-infinity') AND created_at < coalesce($2::timestamptz, 'infinity')
    AND ($4::user_status IS NULL OR status = $4::user_status)
    AND ($5::text IS NULL OR (handle ~>=~ $5::text AND handle ~<~ $6::text))
  ORDER BY created_at, id LIMIT $7`;

/**
 * Ids of users whose handle is in [`$1`, `$2`) byte-wise (a prefix and its
 * successor), in id order, after `$3` (NULL for the first page), at most
 * `$5`; only status `$4` when not NULL. `~>=~` and `~<~` are the operators
 * of the handle's text_pattern_ops index, so the range is an index range
 * whatever the parameters (LIKE $1 is not, under a generic plan).
 *
 * Pages are in id order, the index in handle order: this reads the users
 * with the prefix, then sorts them. The prefix's users are read first
 * (MATERIALIZED) so that the plan cannot walk the primary key instead, which
 * reads the whole table for a rare prefix.
 */
export const USERS_BY_HANDLE_PREFIX_SQL = `
  WITH matching AS MATERIALIZED (
    SELECT id, status FROM users WHERE handle ~>=~ $1::text AND handle ~<~ $2::text
  )
  SELECT id FROM matching
  WHERE ($3::uuid IS NULL OR id > $3::uuid) AND ($4::user_status IS NULL OR status = $4::user_status)
  ORDER BY id LIMIT $5`;
