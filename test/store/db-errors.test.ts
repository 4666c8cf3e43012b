/**
 * src/store/db-errors.ts against real errors: every error below was raised by
 * PostgreSQL (or by a refused connection) through Prisma 7.10 + adapter-pg,
 * never built by hand. Conflicts are produced with explicit barriers, so each
 * capture is deterministic.
 */
import { createServer, type AddressInfo } from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DomainError, ErrorReason } from "../../src/domain/errors.js";
import { createPrisma, type Db } from "../../src/lib/prisma.js";
import { dbErrorFacts, infrastructureErrorOf, isRetryableConflict, isTimeout, isUnavailable } from "../../src/store/db-errors.js";
import type { TxClient } from "../../src/store/transaction.js";
import { barrier, rejection, serializable } from "../support/concurrency.js";
import { startQueryPlanExecutor, type QueryPlanExecutor } from "../support/accelerate.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

const REFUSED_URL = "postgresql://postgres@127.0.0.1:1/none";

let database: TestDatabase;
let db: Db;
let down: Db;
let executor: QueryPlanExecutor;
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Too slow, in each of the ways the service can meet: a statement, a transaction, Accelerate's limits. */
async function timeouts(): Promise<void> {
  // Statements past a 300 ms limit; transactions past a 200 ms limit, made of statements within it.
  const SLOW = "SELECT pg_sleep(0.6)::text";
  const slowTransaction = (client: Db) =>
    client.$transaction(async (tx) => {
      await tx.$queryRawUnsafe("SELECT pg_sleep(0.25)::text");
      await tx.$queryRawUnsafe("SELECT 1");
    });
  const withStatementTimeout = createPrisma({ url: database.url, statementTimeoutMs: 300 });
  const withTransactionTimeout = createPrisma({ url: database.url, transactionTimeoutMs: 200 });
  // No statement_timeout behind the executor: its own query limit answers (P6000).
  executor = await startQueryPlanExecutor(database.url, { queryTimeoutMs: 300, statementTimeoutMs: 0 });
  const accelerated = createPrisma({ url: executor.url, transactionTimeoutMs: 200 });
  // An Accelerate URL on a port nobody listens on (fetch refuses some well-known ports outright).
  const acceleratedDown = createPrisma({ url: `prisma+postgres://127.0.0.1:${await closedPort()}/?api_key=none` });
  try {
    captured.statementTimeout = await rejection(withStatementTimeout.$queryRawUnsafe(SLOW));
    captured.transactionExpired = await rejection(slowTransaction(withTransactionTimeout));
    captured.acceleratedQueryTimeout = await rejection(accelerated.$queryRawUnsafe(SLOW));
    captured.acceleratedTransactionExpired = await rejection(slowTransaction(accelerated));
    captured.acceleratedRefused = await rejection(acceleratedDown.currency.findMany());
    // Once connected, Accelerate going away surfaces through the extension instead.
    const gone = await startQueryPlanExecutor(database.url);
    const abandoned = createPrisma({ url: gone.url });
    await abandoned.currency.findMany();
    await gone.stop();
    captured.acceleratedLost = await rejection(abandoned.currency.findMany());
    await abandoned.$disconnect();
  } finally {
    await Promise.all([withStatementTimeout, withTransactionTimeout, accelerated, acceleratedDown].map((c) => c.$disconnect()));
  }
}

/** Real errors, by what caused them. */
const captured: Record<string, unknown> = {};

/** Form 1: a model query's serialization failure (the row changed after our snapshot). */
async function modelConflict(): Promise<unknown> {
  await db.currency.create({ data: { code: "CONFA", scale: 0, name: "a" } });
  const read = barrier(2);
  const first = db.$transaction(async (tx) => {
    await serializable(tx);
    await tx.currency.findUniqueOrThrow({ where: { code: "CONFA" } });
    await read();
    await tx.currency.update({ where: { code: "CONFA" }, data: { scale: 1 } });
  });
  return rejection(
    db.$transaction(async (tx) => {
      await serializable(tx);
      await tx.currency.findUniqueOrThrow({ where: { code: "CONFA" } });
      await read();
      await first;
      await tx.currency.update({ where: { code: "CONFA" }, data: { scale: 2 } });
    }),
  );
}

/** Form 1, deadlock: two model updates lock two rows in opposite orders. */
async function modelDeadlock(): Promise<unknown> {
  await db.currency.createMany({ data: [{ code: "DEADA", scale: 0, name: "a" }, { code: "DEADB", scale: 0, name: "b" }] });
  const locked = barrier(2);
  const bump = (tx: TxClient, code: string) => tx.currency.update({ where: { code }, data: { scale: { increment: 1 } } });
  const first = db.$transaction(async (tx) => {
    await tx.$executeRaw`SET LOCAL deadlock_timeout = '10s'`;
    await bump(tx, "DEADA");
    await locked();
    await bump(tx, "DEADB");
  });
  const error = await rejection(
    db.$transaction(async (tx) => {
      await tx.$executeRaw`SET LOCAL deadlock_timeout = '20ms'`; // so this one detects the deadlock
      await bump(tx, "DEADB");
      await locked();
      for (let i = 0; ; i++) {
        const { rows } = await database.sql<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        if (rows[0]!.n >= 1) break; // the first waits for DEADB
        if (i > 500) throw new Error("the first transaction never waited for the lock");
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await bump(tx, "DEADA");
    }),
  );
  await first;
  return error;
}

/** Form 2: raw SQL's serialization failure. */
async function rawConflict(): Promise<unknown> {
  await database.sql(`INSERT INTO counters (id) VALUES ('raw')`);
  const read = barrier(2);
  const first = db.$transaction(async (tx) => {
    await serializable(tx);
    await tx.$queryRaw`SELECT n FROM counters WHERE id = 'raw'`;
    await read();
    await tx.$executeRaw`UPDATE counters SET n = n + 1 WHERE id = 'raw'`;
  });
  return rejection(
    db.$transaction(async (tx) => {
      await serializable(tx);
      await tx.$queryRaw`SELECT n FROM counters WHERE id = 'raw'`;
      await read();
      await first;
      await tx.$executeRaw`UPDATE counters SET n = n + 1 WHERE id = 'raw'`;
    }),
  );
}

/** Form 3: SERIALIZABLE write skew, found by COMMIT. */
async function commitConflict(): Promise<unknown> {
  const read = barrier(2);
  const wrote = barrier(2);
  const take = async (tx: TxClient) => {
    await serializable(tx);
    const [row] = await tx.$queryRaw<{ c: number }[]>`SELECT count(*)::int AS c FROM tickets`;
    await read();
    await tx.$executeRaw`INSERT INTO tickets (n) VALUES (${row!.c + 1})`;
    await wrote();
  };
  const first = db.$transaction(take);
  return rejection(
    db.$transaction(async (tx) => {
      await take(tx);
      await first;
    }),
  );
}

beforeAll(async () => {
  database = await createTestDatabase();
  db = createPrisma({ url: database.url });
  down = createPrisma({ url: REFUSED_URL });
  await database.sql(`CREATE TABLE counters (id text PRIMARY KEY, n int NOT NULL DEFAULT 0)`);
  await database.sql(`CREATE TABLE tickets (n int NOT NULL)`);

  captured.modelConflict = await modelConflict();
  captured.modelDeadlock = await modelDeadlock();
  captured.rawConflict = await rawConflict();
  captured.commitConflict = await commitConflict();
  // USD is seeded by the first migration; scale must be BETWEEN 0 AND 18.
  captured.uniqueModel = await rejection(db.currency.create({ data: { code: "USD", scale: 2, name: "again" } }));
  captured.uniqueRaw = await rejection(db.$executeRaw`INSERT INTO currencies (code, scale, name) VALUES ('USD', 2, 'again')`);
  captured.checkModel = await rejection(db.currency.create({ data: { code: "CHKA", scale: 99, name: "bad scale" } }));
  captured.checkRaw = await rejection(db.$executeRaw`INSERT INTO currencies (code, scale, name) VALUES ('CHKB', 99, 'bad scale')`);
  captured.refusedModel = await rejection(down.currency.findMany());
  captured.refusedRaw = await rejection(down.$queryRaw`SELECT 1`);
  captured.refusedTransaction = await rejection(down.$transaction(async (tx) => tx.currency.findMany()));
  captured.refusedPg = await rejection(new pg.Client({ connectionString: REFUSED_URL }).connect());
  await timeouts();
});

afterAll(async () => {
  await down?.$disconnect();
  await executor?.stop();
  await db?.$disconnect();
  await database?.drop();
});

const CONFLICTS = ["modelConflict", "modelDeadlock", "rawConflict", "commitConflict"] as const;
const CONSTRAINTS = ["uniqueModel", "uniqueRaw", "checkModel", "checkRaw"] as const;
const REFUSED = ["refusedModel", "refusedRaw", "refusedTransaction", "refusedPg", "acceleratedRefused", "acceleratedLost"] as const;
const TIMEOUTS = ["statementTimeout", "transactionExpired", "acceleratedQueryTimeout", "acceleratedTransactionExpired"] as const;

describe("the captured errors are the real shapes", () => {
  it.each([
    ["modelConflict", { name: "PrismaClientKnownRequestError", code: "P2034", meta: { modelName: "Currency", driverAdapterError: { name: "DriverAdapterError", cause: { originalCode: "40001", kind: "TransactionWriteConflict" } } } }],
    ["modelDeadlock", { name: "PrismaClientKnownRequestError", code: "P2034", meta: { driverAdapterError: { name: "DriverAdapterError", cause: { originalCode: "40P01", kind: "TransactionWriteConflict" } } } }],
    ["rawConflict", { name: "PrismaClientKnownRequestError", code: "P2010", meta: { driverAdapterError: { name: "DriverAdapterError", cause: { originalCode: "40001", kind: "TransactionWriteConflict" } } } }],
    ["commitConflict", { name: "DriverAdapterError", cause: { originalCode: "40001", kind: "TransactionWriteConflict" } }],
    ["uniqueModel", { name: "PrismaClientKnownRequestError", code: "P2002", meta: { driverAdapterError: { cause: { originalCode: "23505", kind: "UniqueConstraintViolation", constraint: { index: "currencies_pkey" } } } } }],
    ["uniqueRaw", { name: "PrismaClientKnownRequestError", code: "P2010", meta: { driverAdapterError: { cause: { originalCode: "23505", kind: "UniqueConstraintViolation" } } } }],
    ["checkModel", { name: "PrismaClientKnownRequestError", code: "P2039", meta: { driverAdapterError: { cause: { originalCode: "23514", kind: "postgres" } } } }],
    ["checkRaw", { name: "PrismaClientKnownRequestError", code: "P2010", meta: { driverAdapterError: { cause: { originalCode: "23514", kind: "postgres" } } } }],
    ["refusedModel", { name: "PrismaClientKnownRequestError", code: "P1001", meta: { driverAdapterError: { cause: { kind: "DatabaseNotReachable", port: 1 } } } }],
    ["refusedRaw", { name: "PrismaClientKnownRequestError", code: "P2010", meta: { driverAdapterError: { cause: { kind: "DatabaseNotReachable", port: 1 } } } }],
    ["refusedTransaction", { name: "PrismaClientKnownRequestError", code: "P1001", meta: { driverAdapterError: { cause: { kind: "DatabaseNotReachable" } } } }],
    ["refusedPg", { code: "ECONNREFUSED", port: 1 }],
    ["acceleratedRefused", { name: "TypeError", message: expect.stringMatching(/^fetch failed/), cause: { code: "ECONNREFUSED" } }],
    ["acceleratedLost", { name: "Error", message: expect.stringMatching(/^Unable to connect to the Accelerate API/) }],
    ["statementTimeout", { name: "PrismaClientKnownRequestError", code: "P2010", meta: { driverAdapterError: { cause: { originalCode: "57014" } } } }],
    ["transactionExpired", { name: "PrismaClientKnownRequestError", code: "P2028", meta: { timeout: 200 } }],
    ["acceleratedQueryTimeout", { name: "PrismaClientKnownRequestError", code: "P6000", meta: { error: "Query timeout exceeded" } }],
    ["acceleratedTransactionExpired", { name: "PrismaClientKnownRequestError", code: "P2028", meta: { timeout: 200 } }],
  ] as const)("%s", (key, shape) => {
    expect(captured[key]).toMatchObject(shape);
  });

  it("the COMMIT form has no Prisma code and no meta", () => {
    expect((captured.commitConflict as { constructor: { name: string } }).constructor.name).toBe("DriverAdapterError");
    expect(captured.commitConflict).not.toHaveProperty("code");
    expect(captured.commitConflict).not.toHaveProperty("meta");
  });
});

describe("isRetryableConflict", () => {
  it.each(CONFLICTS)("is true for %s", (key) => {
    expect(isRetryableConflict(captured[key])).toBe(true);
  });

  it.each([...CONSTRAINTS, ...REFUSED])("is false for %s", (key) => {
    expect(isRetryableConflict(captured[key])).toBe(false);
  });

  it("is false for values that are not database errors", () => {
    for (const value of [undefined, null, "40001", new Error("40001"), new DomainError(ErrorReason.RETRIES_EXHAUSTED, "x"), { code: "40001" }]) {
      expect(isRetryableConflict(value)).toBe(false);
    }
  });
});

describe("isUnavailable", () => {
  it.each(REFUSED)("is true for %s", (key) => {
    expect(isUnavailable(captured[key])).toBe(true);
  });

  it.each([...CONFLICTS, ...CONSTRAINTS, ...TIMEOUTS])("is false for %s", (key) => {
    expect(isUnavailable(captured[key])).toBe(false);
  });

  it("is false for values that are not database errors", () => {
    for (const value of [undefined, null, "ECONNREFUSED", new Error("ECONNREFUSED"), new DomainError(ErrorReason.UNAVAILABLE, "x")]) {
      expect(isUnavailable(value)).toBe(false);
    }
  });
});

describe("isTimeout", () => {
  it.each(TIMEOUTS)("is true for %s", (key) => {
    expect(isTimeout(captured[key])).toBe(true);
  });

  it.each([...CONFLICTS, ...CONSTRAINTS, ...REFUSED])("is false for %s", (key) => {
    expect(isTimeout(captured[key])).toBe(false);
  });
});

describe("infrastructureErrorOf", () => {
  it("names unavailability and timeouts as retryable domain errors, and nothing else", () => {
    for (const key of REFUSED) expect(infrastructureErrorOf(captured[key])?.reason).toBe("UNAVAILABLE");
    for (const key of TIMEOUTS) expect(infrastructureErrorOf(captured[key])?.reason).toBe("DATABASE_TIMEOUT");
    for (const key of [...CONFLICTS, ...CONSTRAINTS]) expect(infrastructureErrorOf(captured[key])).toBeUndefined();
  });
});

describe("dbErrorFacts", () => {
  it.each([
    ["modelConflict", { sqlState: "40001", kind: "TransactionWriteConflict", prismaCode: "P2034", message: "could not serialize access due to concurrent update" }],
    ["modelDeadlock", { sqlState: "40P01", kind: "TransactionWriteConflict", prismaCode: "P2034", message: "deadlock detected" }],
    ["rawConflict", { sqlState: "40001", kind: "TransactionWriteConflict", prismaCode: "P2010", message: "could not serialize access due to concurrent update" }],
    ["commitConflict", { sqlState: "40001", kind: "TransactionWriteConflict", prismaCode: undefined, message: "could not serialize access due to read/write dependencies among transactions" }],
    ["uniqueModel", { sqlState: "23505", kind: "UniqueConstraintViolation", constraint: "currencies_pkey", prismaCode: "P2002" }],
    ["uniqueRaw", { sqlState: "23505", kind: "UniqueConstraintViolation", constraint: "currencies_pkey", prismaCode: "P2010" }],
    ["checkModel", { sqlState: "23514", kind: "postgres", constraint: "currencies_scale_range", prismaCode: "P2039" }],
    ["checkRaw", { sqlState: "23514", kind: "postgres", constraint: "currencies_scale_range", prismaCode: "P2010" }],
    ["refusedModel", { sqlState: undefined, kind: "DatabaseNotReachable", prismaCode: "P1001" }],
    ["refusedRaw", { sqlState: undefined, kind: "DatabaseNotReachable", prismaCode: "P2010" }],
  ] as const)("reads %s", (key, facts) => {
    expect(dbErrorFacts(captured[key])).toMatchObject(facts);
  });

  it("is undefined for errors that did not come from the database layer", () => {
    expect(dbErrorFacts(captured.refusedPg)).toBeUndefined();
    expect(dbErrorFacts(new Error("boom"))).toBeUndefined();
    expect(dbErrorFacts(null)).toBeUndefined();
  });
});
