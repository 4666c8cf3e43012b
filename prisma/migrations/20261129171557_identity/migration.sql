-- CreateEnum
CREATE TYPE "user_status" AS ENUM ('ACTIVE', 'SUSPENDED', 'DELETED');

-- CreateTable
CREATE TABLE "users" (
    "id" UUID NOT NULL,
    "handle" VARCHAR(30),
    "email" VARCHAR(254),
    "display_name" VARCHAR(100) NOT NULL DEFAULT '',
    "status" "user_status" NOT NULL DEFAULT 'ACTIVE',
    "version" BIGINT NOT NULL DEFAULT 1,
    "default_account_id" UUID,
    "created_at" TIMESTAMPTZ(6) NOT NULL,
    "updated_at" TIMESTAMPTZ(6) NOT NULL,

    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "external_identities" (
    "provider" VARCHAR(255) NOT NULL,
    "subject" VARCHAR(255) NOT NULL,
    "user_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL,

    CONSTRAINT "external_identities_pkey" PRIMARY KEY ("provider","subject")
);

-- CreateIndex
CREATE UNIQUE INDEX "users_handle_key" ON "users"("handle");

-- CreateIndex
CREATE INDEX "users_status_id_idx" ON "users"("status", "id");

-- CreateIndex
CREATE INDEX "users_created_at_idx" ON "users"("created_at");

-- CreateIndex
CREATE INDEX "external_identities_user_id_idx" ON "external_identities"("user_id");

-- AddForeignKey
ALTER TABLE "external_identities" ADD CONSTRAINT "external_identities_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Hand-written (Prisma cannot express these) ------------------------------

ALTER TABLE "users"
    -- The documented alphabet: normalized (lower-case) handles only.
    ADD CONSTRAINT "users_handle_format" CHECK ("handle" ~ '^[a-z][a-z0-9_]{2,29}$'),
    ADD CONSTRAINT "users_email_format" CHECK ("email" ~ '^[^@\s]+@[^@\s]+$'),
    ADD CONSTRAINT "users_version_positive" CHECK ("version" >= 1),
    -- Only the deleted have no handle; the deleted have nothing personal left.
    ADD CONSTRAINT "users_handle_unless_deleted" CHECK (("status" = 'DELETED') = ("handle" IS NULL)),
    ADD CONSTRAINT "users_deleted_is_scrubbed" CHECK (
        "status" <> 'DELETED' OR ("email" IS NULL AND "display_name" = '')),
    -- Deferred: a user and the wallet opened with it are written in one transaction, user first.
    ADD CONSTRAINT "users_default_account_fkey" FOREIGN KEY ("default_account_id") REFERENCES "accounts"("id")
        DEFERRABLE INITIALLY DEFERRED;

-- Emails are unique case-insensitively.
CREATE UNIQUE INDEX "users_email_lower_key" ON "users" (lower("email")) WHERE "email" IS NOT NULL;

-- Handle-prefix search (LIKE 'abc%') in any database collation.
CREATE INDEX "users_handle_prefix_idx" ON "users" ("handle" text_pattern_ops);
