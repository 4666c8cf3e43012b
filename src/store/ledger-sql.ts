/**
 * The ledger's fixed write-path statements. Each SQL text never changes, so
 * it is parsed once per pooled connection (a named prepared statement).
 */

/**
 * An account row as locked for a posting, with its owner's status from the
 * identity registry (CASE: system roles are not UUIDs and are never cast).
 */
export const ACCOUNT_COLUMNS = `id, owner_type, owner_id, currency_code, status, min_balance, posted, pending_debit,
  pending_credit, version, label, is_default, created_at, updated_at,
  CASE WHEN owner_type = 'USER' THEN (SELECT u.status::text FROM users u WHERE u.id = owner_id::uuid) END AS owner_status`;

/**
 * Claims the key and locks the accounts in one statement (one round trip).
 * The result has one row per locked account (or one row of NULLs when none
 * was found), each carrying the claim's timestamp, or NULL when the key was
 * already taken.
 */
export const CLAIM_AND_LOCK_SQL = `
  WITH claimed AS (
    INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3)
    ON CONFLICT DO NOTHING RETURNING created_at
  ), locked AS (
    SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($4::uuid[]) ORDER BY id FOR UPDATE
  )
  SELECT locked.*, (SELECT created_at FROM claimed) AS claimed_at
  FROM (VALUES (1)) AS one (x) LEFT JOIN locked ON true`;

/**
 * The whole write set in one statement: data-modifying CTEs over the JSON
 * payload ($1). Every UPDATE and DELETE also names its rows' keys in a typed
 * array ($2 accounts, $3 reversed transfers, $4/$5 idempotency key scopes
 * and keys, $6 users whose stored replies are scrubbed), so that PostgreSQL
 * finds them by index under any plan, generic ones included: `= ANY($n)` is
 * estimated at a handful of rows, where a join against the JSON's rows
 * (estimated at 100) was planned as a hash join over a scan of the table.
 */
export const WRITE_SQL = `
  WITH payload AS (SELECT $1::jsonb AS p),
  new_accounts AS (
    INSERT INTO accounts (id, owner_type, owner_id, currency_code, label, is_default, status, min_balance,
                          posted, pending_debit, pending_credit, version, created_at, updated_at)
    SELECT id, owner_type, owner_id, currency_code, label, is_default, status, min_balance,
           posted, pending_debit, pending_credit, version, created_at, updated_at
    FROM payload, jsonb_to_recordset(p->'new_accounts') AS x(id uuid, owner_type owner_type, owner_id varchar, currency_code varchar,
      label varchar, is_default boolean, status account_status, min_balance bigint, posted bigint, pending_debit bigint,
      pending_credit bigint, version bigint, created_at timestamptz, updated_at timestamptz)
    RETURNING 1
  ), changed_accounts AS (
    UPDATE accounts SET status = u.status, posted = u.posted, pending_debit = u.pending_debit,
           pending_credit = u.pending_credit, version = u.version, updated_at = u.updated_at
    FROM payload, jsonb_to_recordset(p->'accounts') AS u(id uuid, from_version bigint, status account_status, posted bigint,
      pending_debit bigint, pending_credit bigint, version bigint, updated_at timestamptz)
    WHERE accounts.id = ANY($2::uuid[]) AND accounts.id = u.id AND accounts.version = u.from_version
    RETURNING 1
  ), new_transfers AS (
    INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, currency_code, amount, idempotency_key,
                           memo, batch_id, reverses_id, reversed_amount, hold_id, created_at)
    SELECT id, kind, debit_account_id, credit_account_id, currency_code, amount, idempotency_key,
           memo, batch_id, reverses_id, reversed_amount, hold_id, created_at
    FROM payload, jsonb_to_recordset(p->'transfers') AS x(id uuid, kind transfer_kind, debit_account_id uuid,
      credit_account_id uuid, currency_code varchar, amount bigint, idempotency_key varchar, memo varchar, batch_id uuid,
      reverses_id uuid, reversed_amount bigint, hold_id uuid, created_at timestamptz)
    RETURNING 1
  ), new_entries AS (
    INSERT INTO entries (transfer_id, account_id, amount, balance_after, account_version, created_at)
    SELECT transfer_id, account_id, amount, balance_after, account_version, created_at
    FROM payload, jsonb_to_recordset(p->'entries') AS x(transfer_id uuid, account_id uuid, amount bigint,
      balance_after bigint, account_version bigint, created_at timestamptz)
    RETURNING 1
  ), written_holds AS (
    INSERT INTO holds (id, debit_account_id, credit_account_id, currency_code, amount, status, captured_amount,
                       capture_transfer_id, expires_at, idempotency_key, memo, created_at, updated_at)
    SELECT id, debit_account_id, credit_account_id, currency_code, amount, status, captured_amount,
           capture_transfer_id, expires_at, idempotency_key, memo, created_at, updated_at
    FROM payload, jsonb_to_recordset(p->'holds') AS x(id uuid, debit_account_id uuid, credit_account_id uuid,
      currency_code varchar, amount bigint, status hold_status, captured_amount bigint, capture_transfer_id uuid,
      expires_at timestamptz, idempotency_key varchar, memo varchar, created_at timestamptz, updated_at timestamptz)
    ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, captured_amount = EXCLUDED.captured_amount,
      capture_transfer_id = EXCLUDED.capture_transfer_id, updated_at = EXCLUDED.updated_at
    RETURNING 1
  ), reversed AS (
    UPDATE transfers SET reversed_amount = v.reversed_amount
    FROM payload, jsonb_to_recordset(p->'reversals') AS v(id uuid, reversed_amount bigint)
    WHERE transfers.id = ANY($3::uuid[]) AND transfers.id = v.id
    RETURNING 1
  ), new_audit_events AS (
    -- WITH ORDINALITY keeps the events' order: their ids follow the order of the change.
    INSERT INTO audit_events (occurred_at, actor, on_behalf_of, action, resource_type, resource_id, request_id, idempotency_key, payload)
    SELECT (a->>'occurred_at')::timestamptz, a->>'actor', a->>'on_behalf_of', a->>'action', a->>'resource_type', a->>'resource_id',
           a->>'request_id', a->>'idempotency_key', a->'payload'
    FROM payload, jsonb_array_elements(p->'audit') WITH ORDINALITY AS e(a, n)
    ORDER BY n
    RETURNING 1
  ), completed_keys AS (
    UPDATE idempotency_keys SET response = decode(c.response, 'base64'), refusal = decode(c.refusal, 'base64'), user_id = c.user_id
    FROM payload, jsonb_to_recordset(p->'completions') AS c(scope varchar, key varchar, response text, refusal text, user_id uuid)
    WHERE idempotency_keys.scope = ANY($4::varchar[]) AND idempotency_keys.key = ANY($5::varchar[])
      AND idempotency_keys.scope = c.scope AND idempotency_keys.key = c.key
    RETURNING 1
  ), released_keys AS (
    DELETE FROM idempotency_keys
    USING payload, jsonb_to_recordset(p->'released') AS r(scope varchar, key varchar)
    WHERE idempotency_keys.scope = ANY($4::varchar[]) AND idempotency_keys.key = ANY($5::varchar[])
      AND idempotency_keys.scope = r.scope AND idempotency_keys.key = r.key
    RETURNING 1
  ), scrubbed_replies AS (
    -- Erasure: every stored reply that carries the user's personal data now carries the erased user.
    UPDATE idempotency_keys SET response = decode(s.response, 'base64')
    FROM payload, jsonb_to_recordset(p->'scrubs') AS s(user_id uuid, response text)
    WHERE idempotency_keys.user_id = ANY($6::uuid[]) AND idempotency_keys.user_id = s.user_id AND idempotency_keys.response IS NOT NULL
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM changed_accounts)::int AS accounts, (SELECT count(*) FROM completed_keys)::int AS keys,
         (SELECT count(*) FROM released_keys)::int AS released`;
