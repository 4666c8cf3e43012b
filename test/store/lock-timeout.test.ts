/**
 * A lock not had within `lock_timeout` (SQLSTATE 55P03, lock_not_available)
 * is named UNAVAILABLE (retryable), not left as an unknown INTERNAL error.
 * The error is a real one: PostgreSQL raises it through Prisma + adapter-pg
 * while another connection holds the row.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorReason } from "../../src/domain/errors.js";
import { createPrisma, type Db } from "../../src/lib/prisma.js";
import { dbErrorFacts, infrastructureErrorOf, isRetryableConflict } from "../../src/store/db-errors.js";
import { rejection } from "../support/concurrency.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

let database: TestDatabase;
let db: Db;
let holder: pg.Client;
let lockTimeout: unknown;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createPrisma({ url: database.url, poolMax: 2 });
  await db.currency.create({ data: { code: "LOCKT", scale: 0, name: "locked" } });
  holder = new pg.Client({ connectionString: database.url });
  await holder.connect();
  await holder.query("BEGIN");
  await holder.query("SELECT code FROM currencies WHERE code = 'LOCKT' FOR UPDATE");
  lockTimeout = await rejection(
    db.$transaction(async (tx) => {
      await tx.$executeRawUnsafe("SET LOCAL lock_timeout = '50ms'");
      await tx.$queryRawUnsafe("SELECT code FROM currencies WHERE code = 'LOCKT' FOR UPDATE");
    }),
  );
  await holder.query("ROLLBACK");
});

afterAll(async () => {
  await holder?.end();
  await db?.$disconnect();
  await database?.drop();
});

describe("lock_timeout (55P03)", () => {
  it("is PostgreSQL's lock_not_available", () => {
    expect(dbErrorFacts(lockTimeout)?.sqlState).toBe("55P03");
  });

  it("is UNAVAILABLE, retryable, and not a conflict retried in place", () => {
    expect(infrastructureErrorOf(lockTimeout)?.reason).toBe(ErrorReason.UNAVAILABLE);
    expect(isRetryableConflict(lockTimeout)).toBe(false);
  });
});
