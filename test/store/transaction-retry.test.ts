/**
 * runTransaction (src/store/transaction.ts) against real write conflicts in
 * PostgreSQL. With Prisma 7.10 + adapter-pg a conflict reaches us in three
 * forms, captured first (without runTransaction) so this file documents them:
 *
 * 1. a model query (`tx.currency.update`): PrismaClientKnownRequestError
 *    P2034, `meta.driverAdapterError.cause` = { originalCode 40001 | 40P01,
 *    kind "TransactionWriteConflict" }, `meta.modelName`;
 * 2. raw SQL (`tx.$executeRaw`): PrismaClientKnownRequestError P2010, same
 *    `meta.driverAdapterError.cause`;
 * 3. COMMIT (SERIALIZABLE write skew found only at commit): a bare
 *    DriverAdapterError, `cause` = { originalCode 40001, kind
 *    "TransactionWriteConflict" }, no `code`, no `meta`.
 *
 * Transactions are interleaved with explicit barriers, never with sleeps, so
 * every conflict below happens on every run. runTransaction calls
 * `db.$transaction(work)` without options, so SERIALIZABLE is set by the
 * work's first statement.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DomainError, ErrorReason } from "../../src/domain/errors.js";
import { createPrisma, type Db } from "../../src/lib/prisma.js";
import { NO_OBSERVER, type Observer, type RetryCause } from "../../src/domain/observer.js";
import { runTransaction, type RetryPolicy, type TxClient } from "../../src/store/transaction.js";
import { barrier, rejection, serializable } from "../support/concurrency.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";


/** Fast backoff so retries cost milliseconds. */
const fast = (maxAttempts: number): RetryPolicy => ({ maxAttempts, baseDelayMs: 1, maxDelayMs: 5 });

let database: TestDatabase;
let db: Db;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createPrisma({ url: database.url, poolMax: 12 });
  await database.sql(`CREATE TABLE counters (id text PRIMARY KEY, n int NOT NULL DEFAULT 0)`);
  await database.sql(`CREATE TABLE tickets (series text NOT NULL, n int NOT NULL)`);
});

afterAll(async () => {
  await db?.$disconnect();
  await database?.drop();
});

let seq = 0;
/** A fresh currency (a Prisma model) whose `scale` serves as a counter starting at 0. */
async function newCurrency(): Promise<string> {
  const code = `RTRY${++seq}`;
  await db.currency.create({ data: { code, scale: 0, name: "retry test" } });
  return code;
}
async function newCounter(): Promise<string> {
  const id = `c${++seq}`;
  await database.sql(`INSERT INTO counters (id) VALUES ($1)`, [id]);
  return id;
}
const newSeries = () => `s${++seq}`;

async function scaleOf(code: string): Promise<number> {
  return (await db.currency.findUniqueOrThrow({ where: { code } })).scale;
}
async function counterOf(id: string): Promise<number> {
  return (await database.sql<{ n: number }>(`SELECT n FROM counters WHERE id = $1`, [id])).rows[0]!.n;
}
async function ticketsOf(series: string): Promise<number[]> {
  const { rows } = await database.sql<{ n: number }>(`SELECT n FROM tickets WHERE series = $1 ORDER BY n`, [series]);
  return rows.map((r) => r.n);
}

/** Waits (polling pg_stat_activity) until `count` backends of this database wait on a lock. */
async function lockWaiters(count: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const { rows } = await database.sql<{ waiting: number }>(
      `SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    if (rows[0]!.waiting >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no ${count} lock waiter(s) after 5 s`);
}

/**
 * The three conflict workloads. Each is a read-modify-write at SERIALIZABLE.
 * `gate(phase)` is a barrier the runner applies to first attempts only: phase
 * 0 after the reads (and, for the commit form, phase 1 after the write), so
 * that all first attempts overlap.
 */
interface Workload {
  name: string;
  setup(): Promise<string>;
  work(key: string, gate: (phase: 0 | 1) => Promise<void>): (tx: TxClient) => Promise<void>;
  /** How many increments landed. */
  landed(key: string): Promise<number>;
  /** Extra check that each increment landed exactly once. */
  exactlyOnce(key: string, n: number): Promise<void>;
}

const modelQuery: Workload = {
  name: "1: a model query (P2034)",
  setup: newCurrency,
  work: (code, gate) => async (tx) => {
    await serializable(tx);
    const { scale } = await tx.currency.findUniqueOrThrow({ where: { code } });
    await gate(0);
    await tx.currency.update({ where: { code }, data: { scale: scale + 1 } });
  },
  landed: scaleOf,
  exactlyOnce: async () => undefined,
};

const rawSql: Workload = {
  name: "2: raw SQL (P2010)",
  setup: newCounter,
  work: (id, gate) => async (tx) => {
    await serializable(tx);
    const [row] = await tx.$queryRaw<{ n: number }[]>`SELECT n FROM counters WHERE id = ${id}`;
    await gate(0);
    await tx.$executeRaw`UPDATE counters SET n = ${row!.n + 1} WHERE id = ${id}`;
  },
  landed: counterOf,
  exactlyOnce: async () => undefined,
};

const atCommit: Workload = {
  name: "3: COMMIT (bare DriverAdapterError)",
  setup: async () => newSeries(),
  // Write skew: each takes the next ticket number from count(*). The inserts
  // never block each other; only SERIALIZABLE's commit-time check stops two
  // transactions from taking the same number.
  work: (series, gate) => async (tx) => {
    await serializable(tx);
    const [row] = await tx.$queryRaw<{ c: number }[]>`SELECT count(*)::int AS c FROM tickets WHERE series = ${series}`;
    await gate(0);
    await tx.$executeRaw`INSERT INTO tickets (series, n) VALUES (${series}, ${row!.c + 1})`;
    await gate(1);
  },
  landed: async (series) => (await ticketsOf(series)).length,
  // Every committed transaction saw all earlier ones: the numbers are 1..n, no repeats.
  exactlyOnce: async (series, n) => expect(await ticketsOf(series)).toEqual(Array.from({ length: n }, (_, i) => i + 1)),
};

function expectWriteConflict(cause: unknown, sqlState: "40001" | "40P01" = "40001") {
  expect(cause).toMatchObject({ originalCode: sqlState, kind: "TransactionWriteConflict" });
}

describe("the three forms of a write conflict in Prisma 7.10 + adapter-pg", () => {
  it("1: a model query raises PrismaClientKnownRequestError P2034 (serialization failure 40001)", async () => {
    const code = await newCurrency();
    const read = barrier(2);
    const first = db.$transaction(async (tx) => {
      await serializable(tx);
      await tx.currency.findUniqueOrThrow({ where: { code } });
      await read();
      await tx.currency.update({ where: { code }, data: { scale: 1 } });
    });
    const second = db.$transaction(async (tx) => {
      await serializable(tx);
      await tx.currency.findUniqueOrThrow({ where: { code } });
      await read();
      await first; // the row changed (and committed) after this snapshot
      await tx.currency.update({ where: { code }, data: { scale: 2 } });
    });
    const error = (await rejection(second)) as Record<string, any>;
    expect(error.constructor.name).toBe("PrismaClientKnownRequestError");
    expect(error).toMatchObject({ name: "PrismaClientKnownRequestError", code: "P2034", meta: { modelName: "Currency" } });
    expect(error.meta.driverAdapterError.name).toBe("DriverAdapterError");
    expectWriteConflict(error.meta.driverAdapterError.cause);
    expect(error.meta.driverAdapterError.cause.originalMessage).toBe("could not serialize access due to concurrent update");
    expect(error.message).toContain("Transaction failed due to a write conflict or a deadlock");
    expect(await scaleOf(code)).toBe(1);
  });

  it("1: a model query raises P2034 for a deadlock too (40P01)", async () => {
    const [a, b] = [await newCurrency(), await newCurrency()];
    const locked = barrier(2);
    const bump = (tx: TxClient, code: string) => tx.currency.update({ where: { code }, data: { scale: { increment: 1 } } });
    // Only the second transaction can be the one to detect the deadlock: its
    // deadlock_timeout is 20 ms, the first's 10 s.
    const first = db.$transaction(async (tx) => {
      await tx.$executeRaw`SET LOCAL deadlock_timeout = '10s'`;
      await bump(tx, a);
      await locked();
      await bump(tx, b); // waits for the second
    });
    const second = db.$transaction(async (tx) => {
      await tx.$executeRaw`SET LOCAL deadlock_timeout = '20ms'`;
      await bump(tx, b);
      await locked();
      await lockWaiters(1); // the first is waiting for b
      await bump(tx, a); // and now each waits for the other
    });
    const error = (await rejection(second)) as Record<string, any>;
    expect(error).toMatchObject({ name: "PrismaClientKnownRequestError", code: "P2034" });
    expectWriteConflict(error.meta.driverAdapterError.cause, "40P01");
    expect(error.meta.driverAdapterError.cause.originalMessage).toBe("deadlock detected");
    await first;
    expect([await scaleOf(a), await scaleOf(b)]).toEqual([1, 1]);
  });

  it("2: raw SQL raises PrismaClientKnownRequestError P2010 carrying the adapter's TransactionWriteConflict", async () => {
    const id = await newCounter();
    const read = barrier(2);
    const first = db.$transaction(async (tx) => {
      await serializable(tx);
      await tx.$queryRaw`SELECT n FROM counters WHERE id = ${id}`;
      await read();
      await tx.$executeRaw`UPDATE counters SET n = n + 1 WHERE id = ${id}`;
    });
    const second = db.$transaction(async (tx) => {
      await serializable(tx);
      await tx.$queryRaw`SELECT n FROM counters WHERE id = ${id}`;
      await read();
      await first;
      await tx.$executeRaw`UPDATE counters SET n = n + 1 WHERE id = ${id}`;
    });
    const error = (await rejection(second)) as Record<string, any>;
    expect(error.constructor.name).toBe("PrismaClientKnownRequestError");
    expect(error).toMatchObject({ name: "PrismaClientKnownRequestError", code: "P2010" });
    expect(error.meta.modelName).toBeUndefined();
    expect(error.meta.driverAdapterError.name).toBe("DriverAdapterError");
    expectWriteConflict(error.meta.driverAdapterError.cause);
    expect(error.message).toContain("Raw query failed. Code: `40001`");
    expect(await counterOf(id)).toBe(1);
  });

  it("3: COMMIT raises a bare DriverAdapterError (SERIALIZABLE write skew)", async () => {
    const series = newSeries();
    const read = barrier(2);
    const wrote = barrier(2);
    let secondCommitting = false;
    const take = async (tx: TxClient) => {
      await serializable(tx);
      const [row] = await tx.$queryRaw<{ c: number }[]>`SELECT count(*)::int AS c FROM tickets WHERE series = ${series}`;
      await read();
      await tx.$executeRaw`INSERT INTO tickets (series, n) VALUES (${series}, ${row!.c + 1})`;
      await wrote();
    };
    const first = db.$transaction(take);
    const second = db.$transaction(async (tx) => {
      await take(tx); // every statement succeeded...
      await first;
      secondCommitting = true; // ...and the work returns: the conflict is found by COMMIT
    });
    const error = (await rejection(second)) as Record<string, any>;
    expect(secondCommitting).toBe(true);
    expect(error.constructor.name).toBe("DriverAdapterError");
    expect(error.name).toBe("DriverAdapterError");
    expect(error.code).toBeUndefined();
    expect(error.meta).toBeUndefined();
    expectWriteConflict(error.cause);
    expect(error.cause.originalMessage).toBe("could not serialize access due to read/write dependencies among transactions");
    expect(await ticketsOf(series)).toEqual([1]);
  });
});

describe.each([modelQuery, rawSql, atCommit])("runTransaction, conflict form $name", (workload) => {
  it("retries until every one of N concurrent increments has committed exactly once", async () => {
    const N = 4;
    const key = await workload.setup();
    const phases = [barrier(N), barrier(N)] as const;
    const attempts = Array<number>(N).fill(0);
    const causes: RetryCause[] = [];
    const observer = { ...NO_OBSERVER, transactionRetried: (cause: RetryCause) => void causes.push(cause) };
    const results = await Promise.all(
      attempts.map((_, i) => {
        const work = workload.work(key, (phase) => (attempts[i] === 1 ? phases[phase]() : Promise.resolve()));
        return runTransaction(
          db,
          async (tx) => {
            attempts[i]!++;
            await work(tx);
            return i;
          },
          { observer },
        );
      }),
    );
    expect(results).toEqual([0, 1, 2, 3]);
    expect(await workload.landed(key)).toBe(N);
    await workload.exactlyOnce(key, N);
    // The first attempts all overlapped: one committed, the N - 1 others conflicted and ran again.
    expect(attempts.reduce((a, b) => a + b)).toBeGreaterThanOrEqual(2 * N - 1);
    expect(attempts.filter((a) => a === 1).length).toBeGreaterThanOrEqual(1);
    expect(attempts.filter((a) => a > 1).length).toBeGreaterThanOrEqual(1);
    // Every retry is reported once, by its cause (the metrics' ledger_transaction_retries_total).
    expect(causes).toHaveLength(attempts.reduce((a, b) => a + b) - N);
    for (const cause of causes) expect(["serialization_failure", "write_conflict"]).toContain(cause);
  });

  it("gives up with RETRIES_EXHAUSTED after maxAttempts (1: no retry)", async () => {
    const key = await workload.setup();
    const phases = [barrier(2), barrier(2)] as const;
    const attempts = [0, 0];
    const outcomes = await Promise.allSettled(
      attempts.map((_, i) =>
        runTransaction(
          db,
          async (tx) => {
            attempts[i]!++;
            await workload.work(key, (phase) => phases[phase]())(tx);
          },
          { retry: fast(1) },
        ),
      ),
    );
    expect(attempts).toEqual([1, 1]);
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
    expect(failed?.reason).toBeInstanceOf(DomainError);
    expect(failed?.reason).toMatchObject({ reason: ErrorReason.RETRIES_EXHAUSTED });
    expect(await workload.landed(key)).toBe(1);
    await workload.exactlyOnce(key, 1);
  });
});

describe("runTransaction, deadlock (40P01, raised as P2034)", () => {
  /** Two transactions lock a and b in opposite orders; only the second can detect the deadlock. */
  function crossed(a: string, b: string, retry: RetryPolicy, observer: Observer = NO_OBSERVER) {
    const locked = barrier(2);
    const attempts = [0, 0];
    const bump = (tx: TxClient, code: string) => tx.currency.update({ where: { code }, data: { scale: { increment: 1 } } });
    const first = runTransaction(
      db,
      async (tx) => {
        attempts[0]!++;
        await tx.$executeRaw`SET LOCAL deadlock_timeout = '10s'`;
        await bump(tx, a);
        await locked();
        await bump(tx, b);
      },
      { retry },
    );
    const second = runTransaction(
      db,
      async (tx) => {
        const attempt = ++attempts[1]!;
        if (attempt === 1) await tx.$executeRaw`SET LOCAL deadlock_timeout = '20ms'`;
        await bump(tx, b);
        if (attempt === 1) {
          await locked();
          await lockWaiters(1);
        }
        await bump(tx, a);
      },
      { retry, observer },
    );
    return { first, second, attempts };
  }

  it("retries the deadlock victim and both transactions commit", async () => {
    const [a, b] = [await newCurrency(), await newCurrency()];
    const causes: RetryCause[] = [];
    const { first, second, attempts } = crossed(a, b, fast(3), { ...NO_OBSERVER, transactionRetried: (cause) => void causes.push(cause) });
    await Promise.all([first, second]);
    expect(attempts).toEqual([1, 2]);
    expect(causes).toEqual(["deadlock"]);
    expect([await scaleOf(a), await scaleOf(b)]).toEqual([2, 2]);
  });

  it("gives up with RETRIES_EXHAUSTED when maxAttempts is 1", async () => {
    const [a, b] = [await newCurrency(), await newCurrency()];
    const { first, second, attempts } = crossed(a, b, fast(1));
    const error = await rejection(second);
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ reason: ErrorReason.RETRIES_EXHAUSTED });
    await first;
    expect(attempts).toEqual([1, 1]);
    expect([await scaleOf(a), await scaleOf(b)]).toEqual([1, 1]);
  });
});

describe("runTransaction, errors that are not write conflicts", () => {
  it("does not retry a unique violation; it goes through `translate` once", async () => {
    const code = await newCurrency();
    let attempts = 0;
    const translated = new Error("translated");
    const seen: unknown[] = [];
    const error = await rejection(
      runTransaction(
        db,
        async (tx) => {
          attempts++;
          await tx.currency.create({ data: { code, scale: 0, name: "duplicate" } });
        },
        {
          retry: fast(5),
          translate: (e) => {
            seen.push(e);
            return translated;
          },
        },
      ),
    );
    expect(error).toBe(translated);
    expect(attempts).toBe(1);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ code: "P2002" });
  });

  it("turns a refused connection into UNAVAILABLE without retrying", async () => {
    const down = createPrisma({ url: "postgresql://postgres@127.0.0.1:1/none" });
    try {
      let attempts = 0;
      const error = await rejection(
        runTransaction(down, async (tx) => {
          attempts++;
          await tx.currency.findMany();
        }),
      );
      expect(error).toBeInstanceOf(DomainError);
      expect(error).toMatchObject({ reason: ErrorReason.UNAVAILABLE });
      expect(attempts).toBe(0); // the transaction never started
    } finally {
      await down.$disconnect();
    }
  });
});
