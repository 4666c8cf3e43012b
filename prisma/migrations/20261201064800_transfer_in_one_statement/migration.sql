-- AlterTable
ALTER TABLE "idempotency_keys" ADD COLUMN     "outcome" JSONB;

-- Hand-written (Prisma cannot express these) ------------------------------

-- A key's outcome is one of: a reply, a refusal, or (decided in the
-- database) its data. Never two.
ALTER TABLE "idempotency_keys" DROP CONSTRAINT "idempotency_keys_one_outcome";
ALTER TABLE "idempotency_keys"
    ADD CONSTRAINT "idempotency_keys_one_outcome" CHECK (num_nonnulls("response", "refusal", "outcome") <= 1);

-- Transfer, in one statement (one round trip, however the service reaches
-- PostgreSQL): a group of transfers is claimed, locked, posted and written
-- by this function, which PostgreSQL runs as one transaction. It applies the
-- same rules, in the same order and with the same messages, as the service's
-- PostingSession (src/domain/ledger/posting.ts); test/ledger/posting-parity.test.ts
-- holds the two to each other.
--
--   p = { "scope": "ledger.Transfer",
--         "members": [ { "key", "hash" (base64), "id" (uuid), "debit", "credit", "amount" (text),
--                        "currency" ("" = any), "memo", "may_debit" (bit mask or null: 1 user,
--                        2 issuance, 4 treasury, 8 fees, 16 external_settlement),
--                        "actor", "on_behalf_of", "request_id" } … ] }
--
-- Returns { "outcomes": [ per member, in order:
--   { "kind": "new", "transfer": {…} } | { "kind": "refused", "refusal": {reason, message, field, metadata} }
--   | { "kind": "stored", "response" | "refusal" (base64) | "outcome" } | { "kind": "reused" } ] }
-- Every decided outcome (new or refused) is stored under its key in the same statement.
CREATE FUNCTION "ledger_post_transfers"(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
    v_scope    varchar := p->>'scope';
    -- the members, one array per field (read from the JSON once)
    m_key varchar[]; m_hash bytea[]; m_id uuid[]; m_debit uuid[]; m_credit uuid[]; m_amount bigint[]; m_currency text[];
    m_memo text[]; m_mask int[]; m_actor text[]; m_obo text[]; m_request text[];
    v_count    int;
    v_claimed  varchar[];
    v_ids      uuid[];
    -- the locked accounts, one array per column, in id order
    a_id uuid[]; a_type text[]; a_owner text[]; a_owner_status text[]; a_currency text[]; a_status text[];
    a_min bigint[]; a_posted bigint[]; a_pending bigint[]; a_version bigint[]; a_changed boolean[];
    v_now      timestamptz;
    v_amount   bigint;
    v_kind     text;
    v_kind_bit int;
    di int; ci int; side int;
    v_refusal  jsonb;
    v_row      record;
    v_transfer jsonb;
    v_outcomes jsonb[] := '{}';
    -- what is written: one array per column (one statement each at the end)
    t_n int := 0; t_id uuid[] := '{}'; t_debit uuid[] := '{}'; t_credit uuid[] := '{}'; t_currency text[] := '{}';
    t_amount bigint[] := '{}'; t_key varchar[] := '{}'; t_memo text[] := '{}';
    e_transfer uuid[] := '{}'; e_account uuid[] := '{}'; e_amount bigint[] := '{}'; e_balance bigint[] := '{}'; e_version bigint[] := '{}';
    ev_actor text[] := '{}'; ev_obo text[] := '{}'; ev_request text[] := '{}'; ev_key varchar[] := '{}'; ev_resource text[] := '{}'; ev_payload jsonb[] := '{}';
    k_key varchar[] := '{}'; k_outcome jsonb[] := '{}';
    c_int64_min constant numeric := -9223372036854775808;
    c_int64_max constant numeric := 9223372036854775807;
BEGIN
    SELECT array_agg(x.key ORDER BY x.n), array_agg(decode(x.hash, 'base64') ORDER BY x.n), array_agg(x.id ORDER BY x.n),
           array_agg(x.debit ORDER BY x.n), array_agg(x.credit ORDER BY x.n), array_agg(x.amount ORDER BY x.n),
           array_agg(x.currency ORDER BY x.n), array_agg(x.memo ORDER BY x.n), array_agg(x.may_debit ORDER BY x.n),
           array_agg(x.actor ORDER BY x.n), array_agg(x.on_behalf_of ORDER BY x.n), array_agg(x.request_id ORDER BY x.n), count(*)
      INTO m_key, m_hash, m_id, m_debit, m_credit, m_amount, m_currency, m_memo, m_mask, m_actor, m_obo, m_request, v_count
    FROM jsonb_array_elements(p->'members') WITH ORDINALITY AS e(j, n),
         jsonb_to_record(e.j) AS x(key varchar, hash text, id uuid, debit uuid, credit uuid, amount bigint, currency text,
                                   memo text, may_debit int, actor text, on_behalf_of text, request_id text, n bigint);
    -- (n comes from WITH ORDINALITY: jsonb_to_record leaves it NULL, the outer n is used)

    -- 1. Claim every key (in key order); the ones already taken keep their stored outcome.
    WITH claimed AS (
        INSERT INTO idempotency_keys (scope, key, request_hash)
        SELECT v_scope, k, h FROM unnest(m_key, m_hash) AS u(k, h) ORDER BY k
        ON CONFLICT DO NOTHING RETURNING key)
    SELECT coalesce(array_agg(key), '{}') INTO v_claimed FROM claimed;

    -- 2. Lock every account the group touches, in id order (no deadlock between groups).
    v_ids := ARRAY(SELECT DISTINCT u FROM unnest(m_debit || m_credit) AS u);
    SELECT array_agg(l.id ORDER BY l.id), array_agg(l.owner_type::text ORDER BY l.id), array_agg(l.owner_id::text ORDER BY l.id),
           array_agg(l.owner_status ORDER BY l.id), array_agg(l.currency_code::text ORDER BY l.id), array_agg(l.status::text ORDER BY l.id),
           array_agg(l.min_balance ORDER BY l.id), array_agg(l.posted ORDER BY l.id), array_agg(l.pending_debit ORDER BY l.id),
           array_agg(l.version ORDER BY l.id), array_agg(false ORDER BY l.id),
           greatest(date_trunc('milliseconds', transaction_timestamp()), max(date_trunc('milliseconds', l.updated_at)))
      INTO a_id, a_type, a_owner, a_owner_status, a_currency, a_status, a_min, a_posted, a_pending, a_version, a_changed, v_now
    FROM (SELECT a.*, CASE WHEN a.owner_type = 'USER' THEN (SELECT u.status::text FROM users u WHERE u.id = a.owner_id::uuid) END AS owner_status
          FROM accounts a WHERE a.id = ANY(v_ids) ORDER BY a.id FOR UPDATE) AS l;
    v_now := coalesce(v_now, date_trunc('milliseconds', transaction_timestamp()));

    -- 3. Post each transfer in order, on the locked accounts as the previous ones left them.
    FOR i IN 1 .. v_count LOOP
        IF NOT (m_key[i] = ANY(v_claimed)) THEN
            SELECT request_hash, response, refusal, outcome INTO v_row FROM idempotency_keys WHERE scope = v_scope AND key = m_key[i];
            IF v_row.request_hash IS DISTINCT FROM m_hash[i] THEN
                v_outcomes := array_append(v_outcomes, '{"kind": "reused"}'::jsonb);
            ELSE
                v_outcomes := array_append(v_outcomes, jsonb_strip_nulls(jsonb_build_object('kind', 'stored',
                    'response', encode(v_row.response, 'base64'), 'refusal', encode(v_row.refusal, 'base64'), 'outcome', v_row.outcome)));
            END IF;
            CONTINUE;
        END IF;
        v_amount := m_amount[i];
        v_refusal := NULL;
        di := array_position(a_id, m_debit[i]);
        ci := array_position(a_id, m_credit[i]);
        IF di IS NULL THEN
            v_refusal := jsonb_build_object('reason', 'NOT_FOUND', 'message', format('account %s not found', m_debit[i]), 'field', 'debit_account_id');
        ELSIF ci IS NULL THEN
            v_refusal := jsonb_build_object('reason', 'NOT_FOUND', 'message', format('account %s not found', m_credit[i]), 'field', 'credit_account_id');
        END IF;
        -- The caller's debit grants, before anything about the accounts' state is revealed.
        IF v_refusal IS NULL AND m_mask[i] IS NOT NULL THEN
            v_kind := CASE WHEN a_type[di] = 'USER' THEN 'user' ELSE 'system:' || a_owner[di] END;
            v_kind_bit := CASE v_kind WHEN 'user' THEN 1 WHEN 'system:issuance' THEN 2 WHEN 'system:treasury' THEN 4
                                      WHEN 'system:fees' THEN 8 WHEN 'system:external_settlement' THEN 16 ELSE 0 END;
            IF m_mask[i] & v_kind_bit = 0 THEN
                v_refusal := jsonb_build_object('reason', 'DEBIT_NOT_PERMITTED', 'message', format('the caller may not debit %s accounts', v_kind),
                                                'field', 'debit_account_id', 'metadata', jsonb_build_object('account_kind', v_kind));
            END IF;
        END IF;
        IF v_refusal IS NULL THEN
            FOREACH side IN ARRAY ARRAY[di, ci] LOOP
                IF a_status[side] = 'FROZEN' THEN
                    v_refusal := jsonb_build_object('reason', 'ACCOUNT_FROZEN', 'message', format('account %s is frozen', a_id[side]),
                                                    'field', CASE WHEN side = di THEN 'debit_account_id' ELSE 'credit_account_id' END);
                ELSIF a_status[side] = 'CLOSED' THEN
                    v_refusal := jsonb_build_object('reason', 'ACCOUNT_CLOSED', 'message', format('account %s is closed', a_id[side]),
                                                    'field', CASE WHEN side = di THEN 'debit_account_id' ELSE 'credit_account_id' END);
                END IF;
                EXIT WHEN v_refusal IS NOT NULL;
            END LOOP;
        END IF;
        IF v_refusal IS NULL AND a_owner_status[di] = 'SUSPENDED' THEN
            v_refusal := jsonb_build_object('reason', 'USER_SUSPENDED', 'message', format('the owner of account %s is suspended', a_id[di]), 'field', 'debit_account_id');
        END IF;
        IF v_refusal IS NULL THEN
            FOREACH side IN ARRAY ARRAY[di, ci] LOOP
                IF a_owner_status[side] = 'DELETED' THEN
                    v_refusal := jsonb_build_object('reason', 'USER_DELETED', 'message', format('the owner of account %s is deleted', a_id[side]),
                                                    'field', CASE WHEN side = di THEN 'debit_account_id' ELSE 'credit_account_id' END);
                    EXIT;
                END IF;
            END LOOP;
        END IF;
        IF v_refusal IS NULL AND a_currency[di] <> a_currency[ci] THEN
            v_refusal := jsonb_build_object('reason', 'CURRENCY_MISMATCH', 'message',
                format('debit account is in %s, credit account in %s', a_currency[di], a_currency[ci]), 'field', 'credit_account_id');
        END IF;
        IF v_refusal IS NULL AND m_currency[i] <> '' AND m_currency[i] <> a_currency[di] THEN
            v_refusal := jsonb_build_object('reason', 'CURRENCY_MISMATCH', 'message', format('accounts are in %s, not %s', a_currency[di], m_currency[i]), 'field', 'currency');
        END IF;
        -- Funds before overflow (exact, in numeric).
        IF v_refusal IS NULL AND a_min[di] IS NOT NULL AND a_posted[di]::numeric - a_pending[di] - v_amount < a_min[di] THEN
            v_refusal := jsonb_build_object('reason', 'INSUFFICIENT_FUNDS', 'message', format('account %s has insufficient funds', a_id[di]), 'field', 'amount');
        END IF;
        IF v_refusal IS NULL AND a_posted[di]::numeric - v_amount < c_int64_min THEN
            v_refusal := jsonb_build_object('reason', 'AMOUNT_OVERFLOW', 'message', 'the debit account''s balance would overflow int64', 'field', 'amount');
        ELSIF v_refusal IS NULL AND a_posted[ci]::numeric + v_amount > c_int64_max THEN
            v_refusal := jsonb_build_object('reason', 'AMOUNT_OVERFLOW', 'message', 'the credit account''s balance would overflow int64', 'field', 'amount');
        ELSIF v_refusal IS NULL AND a_posted[di]::numeric - v_amount - a_pending[di] < c_int64_min THEN
            v_refusal := jsonb_build_object('reason', 'AMOUNT_OVERFLOW', 'message', 'the debit account''s available balance would overflow int64', 'field', 'amount');
        END IF;

        IF v_refusal IS NOT NULL THEN
            v_refusal := v_refusal || jsonb_build_object('metadata', coalesce(v_refusal->'metadata', '{}'::jsonb));
            v_outcomes := array_append(v_outcomes, jsonb_build_object('kind', 'refused', 'refusal', v_refusal));
            k_key := array_append(k_key, m_key[i]);
            k_outcome := array_append(k_outcome, jsonb_build_object('refusal', v_refusal));
            CONTINUE;
        END IF;

        a_posted[di] := a_posted[di] - v_amount; a_version[di] := a_version[di] + 1; a_changed[di] := true;
        a_posted[ci] := a_posted[ci] + v_amount; a_version[ci] := a_version[ci] + 1; a_changed[ci] := true;
        v_transfer := jsonb_build_object(
            'id', m_id[i], 'debit_account_id', a_id[di], 'credit_account_id', a_id[ci], 'currency', a_currency[di],
            'amount', v_amount::text, 'idempotency_key', m_key[i], 'memo', m_memo[i], 'created_at', v_now,
            'debit_balance_after', a_posted[di]::text, 'credit_balance_after', a_posted[ci]::text,
            'debit_account_version', a_version[di]::text, 'credit_account_version', a_version[ci]::text);
        t_id := array_append(t_id, m_id[i]); t_debit := array_append(t_debit, a_id[di]); t_credit := array_append(t_credit, a_id[ci]);
        t_currency := array_append(t_currency, a_currency[di]); t_amount := array_append(t_amount, v_amount);
        t_key := array_append(t_key, m_key[i]); t_memo := array_append(t_memo, m_memo[i]);
        e_transfer := e_transfer || ARRAY[m_id[i], m_id[i]]; e_account := e_account || ARRAY[a_id[di], a_id[ci]];
        e_amount := e_amount || ARRAY[-v_amount, v_amount]; e_balance := e_balance || ARRAY[a_posted[di], a_posted[ci]];
        e_version := e_version || ARRAY[a_version[di], a_version[ci]];
        ev_actor := array_append(ev_actor, m_actor[i]); ev_obo := array_append(ev_obo, m_obo[i]); ev_request := array_append(ev_request, m_request[i]);
        ev_key := array_append(ev_key, m_key[i]); ev_resource := array_append(ev_resource, m_id[i]::text);
        ev_payload := array_append(ev_payload, jsonb_build_object('debit_account_id', a_id[di], 'credit_account_id', a_id[ci], 'amount', v_amount::text, 'currency', a_currency[di]));
        v_outcomes := array_append(v_outcomes, jsonb_build_object('kind', 'new', 'transfer', v_transfer));
        k_key := array_append(k_key, m_key[i]);
        k_outcome := array_append(k_outcome, jsonb_build_object('transfer', v_transfer));
    END LOOP;

    -- 4. Write it all: set-shaped, rows found by index.
    IF cardinality(t_id) > 0 THEN
        UPDATE accounts SET posted = c.posted, version = c.version, updated_at = v_now
        FROM unnest(a_id, a_posted, a_version, a_changed) AS c(id, posted, version, changed)
        WHERE accounts.id = ANY(v_ids) AND accounts.id = c.id AND c.changed;
        INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, currency_code, amount, idempotency_key, memo, reversed_amount, created_at)
        SELECT id, 'TRANSFER', debit, credit, currency, amount, key, memo, 0, v_now
        FROM unnest(t_id, t_debit, t_credit, t_currency, t_amount, t_key, t_memo) AS x(id, debit, credit, currency, amount, key, memo);
        INSERT INTO entries (transfer_id, account_id, amount, balance_after, account_version, created_at)
        SELECT transfer_id, account_id, amount, balance, version, v_now
        FROM unnest(e_transfer, e_account, e_amount, e_balance, e_version) WITH ORDINALITY AS x(transfer_id, account_id, amount, balance, version, n)
        ORDER BY n;
        INSERT INTO audit_events (occurred_at, actor, on_behalf_of, action, resource_type, resource_id, request_id, idempotency_key, payload)
        SELECT v_now, actor, obo, 'ledger.transfer', 'transfer', resource, request, key, payload
        FROM unnest(ev_actor, ev_obo, ev_request, ev_key, ev_resource, ev_payload) WITH ORDINALITY AS x(actor, obo, request, key, resource, payload, n)
        ORDER BY n;
    END IF;
    IF cardinality(k_key) > 0 THEN
        UPDATE idempotency_keys SET outcome = k.outcome
        FROM unnest(k_key, k_outcome) AS k(key, outcome)
        WHERE idempotency_keys.scope = v_scope AND idempotency_keys.key = ANY(k_key) AND idempotency_keys.key = k.key;
    END IF;

    RETURN jsonb_build_object('outcomes', to_jsonb(v_outcomes));
END;
$fn$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ledger_runtime') THEN
        GRANT EXECUTE ON FUNCTION "ledger_post_transfers"(jsonb) TO ledger_runtime;
    END IF;
END
$$;
