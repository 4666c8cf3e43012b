-- CreateTable
CREATE TABLE "currencies" (
    "code" VARCHAR(12) NOT NULL,
    "scale" SMALLINT NOT NULL,
    "name" VARCHAR(64) NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "currencies_pkey" PRIMARY KEY ("code")
);

-- Hand-written (Prisma cannot express these) ------------------------------

-- Currency codes: 3 to 12 of [A-Z0-9] starting with a letter; scale 0..18
-- (an int64 of minor units must still hold at least one major unit).
ALTER TABLE "currencies"
    ADD CONSTRAINT "currencies_code_format" CHECK ("code" ~ '^[A-Z][A-Z0-9]{2,11}$'),
    ADD CONSTRAINT "currencies_scale_range" CHECK ("scale" BETWEEN 0 AND 18);

-- Reference data: the currencies every deployment starts with.
INSERT INTO "currencies" ("code", "scale", "name") VALUES
    ('USD', 2, 'US dollar'),
    ('EUR', 2, 'Euro'),
    ('AEV', 8, 'ΛΞVON token');
