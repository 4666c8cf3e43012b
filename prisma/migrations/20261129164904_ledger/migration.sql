-- CreateEnum
CREATE TYPE "owner_type" AS ENUM ('USER', 'SYSTEM');

-- CreateEnum
CREATE TYPE "account_status" AS ENUM ('ACTIVE', 'FROZEN', 'CLOSED');

-- CreateEnum
CREATE TYPE "transfer_kind" AS ENUM ('TRANSFER', 'HOLD_CAPTURE', 'REVERSAL');

-- CreateEnum
CREATE TYPE "hold_status" AS ENUM ('PENDING', 'CAPTURED', 'VOIDED', 'EXPIRED');

-- CreateTable
CREATE TABLE "accounts" (
    "id" UUID NOT NULL,
    "owner_type" "owner_type" NOT NULL,
    "owner_id" VARCHAR(64) NOT NULL,
    "currency_code" VARCHAR(12) NOT NULL,
    "label" VARCHAR(64) NOT NULL DEFAULT '',
    "is_default" BOOLEAN NOT NULL DEFAULT false,
    "status" "account_status" NOT NULL DEFAULT 'ACTIVE',
    "min_balance" BIGINT,
    "posted" BIGINT NOT NULL DEFAULT 0,
    "pending_debit" BIGINT NOT NULL DEFAULT 0,
    "pending_credit" BIGINT NOT NULL DEFAULT 0,
    "version" BIGINT NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "accounts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "transfers" (
    "id" UUID NOT NULL,
    "kind" "transfer_kind" NOT NULL,
    "debit_account_id" UUID NOT NULL,
    "credit_account_id" UUID NOT NULL,
    "currency_code" VARCHAR(12) NOT NULL,
    "amount" BIGINT NOT NULL,
    "idempotency_key" VARCHAR(160),
    "memo" VARCHAR(256) NOT NULL DEFAULT '',
    "batch_id" UUID,
    "reverses_id" UUID,
    "reversed_amount" BIGINT NOT NULL DEFAULT 0,
    "hold_id" UUID,
    "created_at" TIMESTAMPTZ(6) NOT NULL,

    CONSTRAINT "transfers_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "entries" (
    "id" BIGSERIAL NOT NULL,
    "transfer_id" UUID NOT NULL,
    "account_id" UUID NOT NULL,
    "amount" BIGINT NOT NULL,
    "balance_after" BIGINT NOT NULL,
    "account_version" BIGINT NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL,

    CONSTRAINT "entries_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "holds" (
    "id" UUID NOT NULL,
    "debit_account_id" UUID NOT NULL,
    "credit_account_id" UUID NOT NULL,
    "currency_code" VARCHAR(12) NOT NULL,
    "amount" BIGINT NOT NULL,
    "status" "hold_status" NOT NULL DEFAULT 'PENDING',
    "captured_amount" BIGINT NOT NULL DEFAULT 0,
    "capture_transfer_id" UUID,
    "expires_at" TIMESTAMPTZ(6) NOT NULL,
    "idempotency_key" VARCHAR(160) NOT NULL,
    "memo" VARCHAR(256) NOT NULL DEFAULT '',
    "created_at" TIMESTAMPTZ(6) NOT NULL,
    "updated_at" TIMESTAMPTZ(6) NOT NULL,

    CONSTRAINT "holds_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "idempotency_keys" (
    "scope" VARCHAR(64) NOT NULL,
    "key" VARCHAR(160) NOT NULL,
    "request_hash" BYTEA NOT NULL,
    "response" BYTEA,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "idempotency_keys_pkey" PRIMARY KEY ("scope","key")
);

-- CreateIndex
CREATE INDEX "accounts_owner_type_owner_id_currency_code_idx" ON "accounts"("owner_type", "owner_id", "currency_code");

-- CreateIndex
CREATE INDEX "accounts_currency_code_status_idx" ON "accounts"("currency_code", "status");

-- CreateIndex
CREATE UNIQUE INDEX "transfers_idempotency_key_key" ON "transfers"("idempotency_key");

-- CreateIndex
CREATE INDEX "transfers_reverses_id_idx" ON "transfers"("reverses_id");

-- CreateIndex
CREATE INDEX "transfers_batch_id_idx" ON "transfers"("batch_id");

-- CreateIndex
CREATE INDEX "entries_account_id_id_idx" ON "entries"("account_id", "id");

-- CreateIndex
CREATE INDEX "entries_account_id_created_at_idx" ON "entries"("account_id", "created_at");

-- CreateIndex
CREATE INDEX "entries_transfer_id_idx" ON "entries"("transfer_id");

-- CreateIndex
CREATE UNIQUE INDEX "entries_account_id_account_version_key" ON "entries"("account_id", "account_version");

-- CreateIndex
CREATE UNIQUE INDEX "holds_idempotency_key_key" ON "holds"("idempotency_key");

-- CreateIndex
CREATE INDEX "holds_status_expires_at_idx" ON "holds"("status", "expires_at");

-- CreateIndex
CREATE INDEX "idempotency_keys_created_at_idx" ON "idempotency_keys"("created_at");

-- AddForeignKey
ALTER TABLE "accounts" ADD CONSTRAINT "accounts_currency_code_fkey" FOREIGN KEY ("currency_code") REFERENCES "currencies"("code") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "entries" ADD CONSTRAINT "entries_transfer_id_fkey" FOREIGN KEY ("transfer_id") REFERENCES "transfers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "entries" ADD CONSTRAINT "entries_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Hand-written (Prisma cannot express these) ------------------------------
-- The database, not only the service, holds the ledger's invariants.

ALTER TABLE "accounts"
    ADD CONSTRAINT "accounts_pending_non_negative" CHECK ("pending_debit" >= 0 AND "pending_credit" >= 0),
    ADD CONSTRAINT "accounts_min_balance_not_positive" CHECK ("min_balance" IS NULL OR "min_balance" <= 0),
    -- No overdraft beyond the policy, whatever path writes the row.
    ADD CONSTRAINT "accounts_available_within_policy" CHECK ("min_balance" IS NULL OR "posted" - "pending_debit" >= "min_balance"),
    ADD CONSTRAINT "accounts_version_non_negative" CHECK ("version" >= 0),
    ADD CONSTRAINT "accounts_system_owner" CHECK (
        "owner_type" <> 'SYSTEM' OR "owner_id" IN ('issuance', 'treasury', 'fees', 'external_settlement')),
    ADD CONSTRAINT "accounts_default_is_user" CHECK (NOT "is_default" OR "owner_type" = 'USER'),
    -- Closed means empty.
    ADD CONSTRAINT "accounts_closed_is_empty" CHECK (
        "status" <> 'CLOSED' OR ("posted" = 0 AND "pending_debit" = 0 AND "pending_credit" = 0));

-- One account per system role and currency.
CREATE UNIQUE INDEX "accounts_one_per_system_role_currency"
    ON "accounts" ("owner_id", "currency_code") WHERE "owner_type" = 'SYSTEM';

-- One default wallet per user and currency.
CREATE UNIQUE INDEX "accounts_one_default_per_owner_currency"
    ON "accounts" ("owner_type", "owner_id", "currency_code") WHERE "is_default";

ALTER TABLE "transfers"
    ADD CONSTRAINT "transfers_amount_positive" CHECK ("amount" > 0),
    ADD CONSTRAINT "transfers_distinct_accounts" CHECK ("debit_account_id" <> "credit_account_id"),
    ADD CONSTRAINT "transfers_reversed_within_amount" CHECK ("reversed_amount" >= 0 AND "reversed_amount" <= "amount"),
    ADD CONSTRAINT "transfers_reversal_links_original" CHECK (("kind" = 'REVERSAL') = ("reverses_id" IS NOT NULL)),
    ADD CONSTRAINT "transfers_capture_links_hold" CHECK (("kind" = 'HOLD_CAPTURE') = ("hold_id" IS NOT NULL)),
    ADD CONSTRAINT "transfers_debit_account_fkey" FOREIGN KEY ("debit_account_id") REFERENCES "accounts"("id"),
    ADD CONSTRAINT "transfers_credit_account_fkey" FOREIGN KEY ("credit_account_id") REFERENCES "accounts"("id"),
    ADD CONSTRAINT "transfers_reverses_fkey" FOREIGN KEY ("reverses_id") REFERENCES "transfers"("id");

ALTER TABLE "entries"
    ADD CONSTRAINT "entries_amount_non_zero" CHECK ("amount" <> 0),
    ADD CONSTRAINT "entries_version_positive" CHECK ("account_version" > 0);

ALTER TABLE "holds"
    ADD CONSTRAINT "holds_amount_positive" CHECK ("amount" > 0),
    ADD CONSTRAINT "holds_distinct_accounts" CHECK ("debit_account_id" <> "credit_account_id"),
    ADD CONSTRAINT "holds_captured_within_amount" CHECK ("captured_amount" >= 0 AND "captured_amount" <= "amount"),
    ADD CONSTRAINT "holds_capture_consistent" CHECK (("status" = 'CAPTURED') = ("capture_transfer_id" IS NOT NULL)),
    ADD CONSTRAINT "holds_debit_account_fkey" FOREIGN KEY ("debit_account_id") REFERENCES "accounts"("id"),
    ADD CONSTRAINT "holds_credit_account_fkey" FOREIGN KEY ("credit_account_id") REFERENCES "accounts"("id");

-- The journal is append-only: entries never change; a transfer only ever
-- gains reversed amount. (Triggers fire on UPDATE/DELETE only: no cost on
-- the insert path.)
CREATE FUNCTION "ledger_reject_journal_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER "entries_append_only" BEFORE UPDATE OR DELETE ON "entries"
    FOR EACH ROW EXECUTE FUNCTION "ledger_reject_journal_change"();
CREATE TRIGGER "entries_no_truncate" BEFORE TRUNCATE ON "entries"
    FOR EACH STATEMENT EXECUTE FUNCTION "ledger_reject_journal_change"();

CREATE FUNCTION "ledger_transfer_only_gains_reversals"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW."id", NEW."kind", NEW."debit_account_id", NEW."credit_account_id", NEW."currency_code", NEW."amount",
        NEW."idempotency_key", NEW."memo", NEW."batch_id", NEW."reverses_id", NEW."hold_id", NEW."created_at")
       IS DISTINCT FROM
       (OLD."id", OLD."kind", OLD."debit_account_id", OLD."credit_account_id", OLD."currency_code", OLD."amount",
        OLD."idempotency_key", OLD."memo", OLD."batch_id", OLD."reverses_id", OLD."hold_id", OLD."created_at")
       OR NEW."reversed_amount" < OLD."reversed_amount" THEN
        RAISE EXCEPTION 'a transfer is immutable; only its reversed amount may grow'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER "transfers_immutable" BEFORE UPDATE ON "transfers"
    FOR EACH ROW EXECUTE FUNCTION "ledger_transfer_only_gains_reversals"();
CREATE TRIGGER "transfers_no_delete" BEFORE DELETE ON "transfers"
    FOR EACH ROW EXECUTE FUNCTION "ledger_reject_journal_change"();
CREATE TRIGGER "transfers_no_truncate" BEFORE TRUNCATE ON "transfers"
    FOR EACH STATEMENT EXECUTE FUNCTION "ledger_reject_journal_change"();

-- Money enters and leaves only through system accounts: every currency gets
-- its four system accounts up front (fixed ids derived from the currency, so
-- every environment agrees).
INSERT INTO "accounts" ("id", "owner_type", "owner_id", "currency_code", "label", "min_balance")
SELECT md5('system:' || r.role || ':' || c."code")::uuid, 'SYSTEM', r.role, c."code", r.role, NULL
FROM "currencies" c
CROSS JOIN (VALUES ('issuance'), ('treasury'), ('fees'), ('external_settlement')) AS r(role);
