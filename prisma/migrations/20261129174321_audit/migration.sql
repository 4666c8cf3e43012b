-- CreateTable
CREATE TABLE "audit_events" (
    "id" BIGSERIAL NOT NULL,
    "occurred_at" TIMESTAMPTZ(6) NOT NULL,
    "actor" VARCHAR(128) NOT NULL,
    "action" VARCHAR(64) NOT NULL,
    "resource_type" VARCHAR(64) NOT NULL,
    "resource_id" VARCHAR(128) NOT NULL,
    "request_id" VARCHAR(128) NOT NULL,
    "idempotency_key" VARCHAR(160),
    "payload" JSONB NOT NULL,

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_seals" (
    "seq" BIGINT NOT NULL,
    "event_id" BIGINT NOT NULL,
    "prev_hash" BYTEA NOT NULL,
    "hash" BYTEA NOT NULL,
    "sealed_at" TIMESTAMPTZ(6) NOT NULL,

    CONSTRAINT "audit_seals_pkey" PRIMARY KEY ("seq")
);

-- CreateIndex
CREATE INDEX "audit_events_resource_type_resource_id_id_idx" ON "audit_events"("resource_type", "resource_id", "id");

-- CreateIndex
CREATE INDEX "audit_events_occurred_at_idx" ON "audit_events"("occurred_at");

-- CreateIndex
CREATE UNIQUE INDEX "audit_seals_event_id_key" ON "audit_seals"("event_id");

-- CreateIndex
CREATE INDEX "audit_seals_sealed_at_idx" ON "audit_seals"("sealed_at");

-- AddForeignKey
ALTER TABLE "audit_seals" ADD CONSTRAINT "audit_seals_event_id_fkey" FOREIGN KEY ("event_id") REFERENCES "audit_events"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Hand-written (Prisma cannot express these) ------------------------------

-- Times are hashed as ISO-8601 with milliseconds: store exactly that precision.
ALTER TABLE "audit_events"
    ADD CONSTRAINT "audit_events_time_in_ms" CHECK ("occurred_at" = date_trunc('milliseconds', "occurred_at"));

ALTER TABLE "audit_seals"
    ADD CONSTRAINT "audit_seals_seq_positive" CHECK ("seq" >= 1),
    ADD CONSTRAINT "audit_seals_hash_size" CHECK (octet_length("hash") = 32 AND octet_length("prev_hash") = 32);

-- The audit log cannot be changed, even by SQL: no UPDATE, DELETE or
-- TRUNCATE on events or seals. (Tampering that bypasses this, e.g. a
-- superuser disabling the triggers, is caught by VerifyChain.) Where the
-- deployment allows, also revoke those privileges from the service's role:
--   REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_seals FROM <service role>;
CREATE FUNCTION "audit_reject_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER "audit_events_append_only" BEFORE UPDATE OR DELETE ON "audit_events"
    FOR EACH ROW EXECUTE FUNCTION "audit_reject_change"();
CREATE TRIGGER "audit_events_no_truncate" BEFORE TRUNCATE ON "audit_events"
    FOR EACH STATEMENT EXECUTE FUNCTION "audit_reject_change"();
CREATE TRIGGER "audit_seals_append_only" BEFORE UPDATE OR DELETE ON "audit_seals"
    FOR EACH ROW EXECUTE FUNCTION "audit_reject_change"();
CREATE TRIGGER "audit_seals_no_truncate" BEFORE TRUNCATE ON "audit_seals"
    FOR EACH STATEMENT EXECUTE FUNCTION "audit_reject_change"();
