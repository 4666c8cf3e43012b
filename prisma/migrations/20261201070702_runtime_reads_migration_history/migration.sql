-- Hand-written (Prisma cannot express these) ------------------------------

-- The service checks at start-up that no migration is pending (and with
-- MIGRATE_ON_START=true applies none when none is): it reads the migration
-- history. A service that holds only its least-privileged role's
-- credentials (migrations run by a deploy step as the owner) must be able to
-- read it, and only read it. Skipped where ledger_runtime could not be
-- created (see the trust migration).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ledger_runtime') THEN
        GRANT SELECT ON "_prisma_migrations" TO ledger_runtime;
    END IF;
END
$$;
