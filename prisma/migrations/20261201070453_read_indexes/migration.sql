-- Reads whose index entries follow the page, not the history (under generic plans too).
-- Three indexes gain the key the pages are ordered by (same number of index
-- insertions per row as before, a wider entry): entries (account_id,
-- created_at, id), accounts (currency_code, status, id), users (created_at,
-- id), audit_events (occurred_at, id). One is new: audit_events (action, id),
-- one more index insertion per audit event, so that ListEvents by action reads
-- its page instead of the log.

-- DropIndex
DROP INDEX "accounts_currency_code_status_idx";

-- DropIndex
DROP INDEX "entries_account_id_created_at_idx";

-- DropIndex
DROP INDEX "users_created_at_idx";

-- DropIndex
DROP INDEX "audit_events_occurred_at_idx";

-- CreateIndex
CREATE INDEX "accounts_currency_code_status_id_idx" ON "accounts"("currency_code", "status", "id");

-- CreateIndex
CREATE INDEX "entries_account_id_created_at_id_idx" ON "entries"("account_id", "created_at", "id");

-- CreateIndex
CREATE INDEX "users_created_at_id_idx" ON "users"("created_at", "id");

-- CreateIndex
CREATE INDEX "audit_events_action_id_idx" ON "audit_events"("action", "id");

-- CreateIndex
CREATE INDEX "audit_events_occurred_at_id_idx" ON "audit_events"("occurred_at", "id");
