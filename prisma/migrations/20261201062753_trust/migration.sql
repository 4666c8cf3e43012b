-- AlterTable
ALTER TABLE "audit_events" ADD COLUMN     "on_behalf_of" VARCHAR(512);

-- Hand-written (Prisma cannot express these) ------------------------------

-- Least privilege. The service runs as a login role that is a member of
-- `ledger_runtime` and owns nothing: it reads and writes rows, and nothing
-- else. It cannot UPDATE, DELETE or TRUNCATE the audit tables, cannot change
-- a transfer but for its reversed amount, cannot run DDL, and (owning no
-- table) cannot disable the triggers that guard the journal and the log.
-- Migrations run as the tables' owner (MIGRATION_DATABASE_URL); the service's
-- start-up grants `ledger_runtime` to the login role of DATABASE_URL. Where
-- the migration role may not create roles, create it once by hand:
--   CREATE ROLE ledger_runtime NOLOGIN;  -- then re-run this migration's grants
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ledger_runtime') THEN
        BEGIN
            CREATE ROLE ledger_runtime NOLOGIN;
        EXCEPTION
            WHEN duplicate_object THEN NULL; -- another database of this server created it just now
            WHEN insufficient_privilege THEN
                RAISE WARNING 'cannot create role ledger_runtime (no CREATEROLE): create it by hand, then grant it its privileges (see this migration)';
                RETURN;
        END;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO ledger_runtime', current_schema());
    GRANT SELECT ON "currencies" TO ledger_runtime;
    GRANT SELECT, INSERT, UPDATE ON "accounts" TO ledger_runtime;
    GRANT SELECT, INSERT ON "transfers" TO ledger_runtime;
    GRANT UPDATE ("reversed_amount") ON "transfers" TO ledger_runtime;
    GRANT SELECT, INSERT ON "entries" TO ledger_runtime;
    GRANT SELECT, INSERT, UPDATE ON "holds" TO ledger_runtime;
    GRANT SELECT, INSERT, UPDATE, DELETE ON "idempotency_keys" TO ledger_runtime;
    GRANT SELECT, INSERT, UPDATE ON "users" TO ledger_runtime;
    GRANT SELECT, INSERT, DELETE ON "external_identities" TO ledger_runtime;
    -- The audit log: append and read, nothing else.
    GRANT SELECT, INSERT ON "audit_events", "audit_seals" TO ledger_runtime;
    GRANT USAGE ON SEQUENCE "entries_id_seq", "audit_events_id_seq" TO ledger_runtime;
END
$$;
