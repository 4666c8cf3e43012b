-- DropIndex
DROP INDEX "audit_seals_sealed_at_idx";

-- AlterTable
ALTER TABLE "idempotency_keys" ADD COLUMN     "refusal" BYTEA,
ADD COLUMN     "user_id" UUID;

-- AlterTable
ALTER TABLE "audit_events" ADD COLUMN     "xid" xid8 NOT NULL DEFAULT pg_current_xact_id(),
ALTER COLUMN "actor" SET DATA TYPE VARCHAR(512);

-- CreateIndex
CREATE INDEX "audit_events_actor_id_idx" ON "audit_events"("actor", "id");

-- Hand-written (Prisma cannot express these) ------------------------------

-- A key's outcome is a reply or a refusal, never both. (Both are NULL only
-- inside the transaction that claimed the key: claim and outcome commit together.)
ALTER TABLE "idempotency_keys"
    ADD CONSTRAINT "idempotency_keys_one_outcome" CHECK ("response" IS NULL OR "refusal" IS NULL);

-- Erasure finds every stored reply that carries a user's personal data.
CREATE INDEX "idempotency_keys_user_id_idx" ON "idempotency_keys" ("user_id") WHERE "user_id" IS NOT NULL;

-- The sealer reads events of finished transactions in (xid, id) order, from
-- the xid of the last sealed event: index lookups proportional to the events
-- it seals, however long the log grows.
CREATE INDEX "audit_events_xid_id_idx" ON "audit_events" ("xid", "id");
