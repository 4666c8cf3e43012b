/**
 * PostgreSQL connections taken away from under the service while about 32
 * calls are in flight, as a foreign client did with
 *   SELECT pg_terminate_backend(pid) FROM pg_stat_activity
 *   WHERE datname = '<db>' AND pid <> pg_backend_pid()
 * Every call that fails must fail UNAVAILABLE (never INTERNAL), on both
 * database paths; nothing may be half applied; a retry with the same key
 * applies each transfer exactly once; and the service heals without a
 * restart (the pool drops dead clients).
 *
 * Transfer is one statement per group (`SELECT ledger_post_transfers(…)`),
 * which PostgreSQL runs as one transaction: it is killed while that
 * statement waits, with group commit on (TRANSFER_GROUP_MAX=64: all 32 in
 * one group, so one statement) and off (TRANSFER_GROUP_MAX=1: each transfer
 * its own statement). Killed between two statements of a transaction is
 * TransferBatch's case: it still runs as an interactive transaction.
 *
 * The calls are held in flight deterministically: separate connections
 * lock their accounts, and the test polls pg_stat_activity until the
 * service's statements wait on those locks.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { killBetweenStatements, Locker, lockWaiters, Observer, startRecordedServer, type RecordedServer } from "../support/connection-loss.js";
import {
  expectAppliedOnceAfterRetries,
  expectLoggedErrorsClassified,
  expectOnlyUnavailable,
  sendTransfers,
  shapeOf,
  type TransferInput,
} from "../support/connection-loss-checks.js";
import pg from "pg";
import { isUnavailable } from "../../src/store/db-errors.js";
import { createTestDatabase } from "../support/db.js";
import { expectBooksBalance, key, ledgerClient, newUserId, userAccount, type LedgerClient } from "../support/ledger.js";
import type { DatabasePath } from "../support/server.js";

const CALLS = 32;
/** DB_POOL_MAX of the test server: this many interactive transactions are in flight at once (direct path). */
const POOL_MAX = 8;

/** What a statement sent on a connection already known dead raises, on each path. */
const NOT_QUERYABLE = "Client has encountered a connection error and is not queryable";
const deadConnectionShape = (path: DatabasePath) =>
  path === "direct"
    ? { class: "Error", message: NOT_QUERYABLE } // node-postgres' own error, passed on unconverted by adapter-pg
    : { class: "PrismaClientKnownRequestError", code: "P6000", metaError: NOT_QUERYABLE }; // the executor's HTTP 500
/** A statement whose backend was terminated under it: PostgreSQL's own notice, on both paths. */
const ADMIN_TERMINATION = { class: "PrismaClientKnownRequestError", code: "P2010", kind: "postgres", originalCode: "57P01" };

type Pair = { debitAccountId: string; creditAccountId: string };

/** `n` pairs of fresh accounts (of one user): a debit account that may go negative, and a credit account. */
async function pairsOf(client: LedgerClient, n: number): Promise<Pair[]> {
  const userId = await newUserId(client);
  return Promise.all(
    Array.from({ length: n }, async () => ({
      debitAccountId: (await userAccount(client, { allowNegative: true, overdraftLimit: 1_000_000n, userId })).id,
      creditAccountId: (await userAccount(client, { userId })).id,
    })),
  );
}

const accountsOf = (pairs: Pair[]) => pairs.flatMap((p) => [p.debitAccountId, p.creditAccountId]);
const requestsOn = (pairs: Pair[], prefix: string): TransferInput[] => pairs.map((p) => ({ idempotencyKey: key(prefix), ...p, amount: 1n }));

describe.each([
  { path: "direct" as const, groupMax: 64 },
  { path: "direct" as const, groupMax: 1 },
  { path: "accelerate" as const, groupMax: 64 },
  { path: "accelerate" as const, groupMax: 1 },
])("connections terminated under load ($path, TRANSFER_GROUP_MAX=$groupMax)", ({ path, groupMax }) => {
  /**
   * Groups in the database at once. With grouping: one, so every call
   * queued behind it forms the next group, all 32 in one statement.
   * Without: four transfers, each in its own statement.
   */
  const concurrency = groupMax === 1 ? 4 : 1;
  /** Transfers in the database when it is terminated: the whole group, or one per statement. */
  const inDatabase = Math.min(CALLS, groupMax * concurrency);
  let server: RecordedServer;
  let client: LedgerClient;
  let observer: Observer;
  /** Disjoint account pairs, so the transfers hold each other up only through the lockers. */
  let pairs: Pair[];
  /** A transfer that holds the group slot while the calls queue, and a TransferBatch sent after them. */
  let plug: Pair;
  let fence: Pair;

  beforeAll(async () => {
    server = await startRecordedServer({ TRANSFER_GROUP_MAX: String(groupMax), TRANSFER_GROUP_CONCURRENCY: String(concurrency) }, path);
    client = ledgerClient(server);
    observer = new Observer(server.database);
    const all = await pairsOf(client, CALLS + 2);
    [plug, fence, pairs] = [all[0]!, all[1]!, all.slice(2)];
  });
  beforeEach(() => {
    server.logged.length = 0;
  });
  afterEach(async () => {
    await Locker.releaseAll();
    await expectBooksBalance(observer.books);
  });
  afterAll(async () => {
    await observer?.end();
    await server?.close();
  });

  /**
   * Sends the calls while their accounts are locked; resolves once the
   * statements that carry them wait on the locks: one group of all 32
   * (grouped), or four single transfers (not).
   *
   * For the group to hold them all, they must all be queued when it forms:
   * a plug transfer holds the only group slot (its accounts locked by
   * `gate`) while they are sent, then a TransferBatch (the fence, which
   * does not queue for a group) is sent after them. Calls on one HTTP/2
   * connection reach the service in order, so once the fence waits on the
   * gate, every call is queued. Then the gate opens: the plug commits and
   * the queued calls go to the database, where `held` stops them.
   */
  async function heldUpCalls(prefix: string) {
    const gate = await (await Locker.open(server.database)).lockAccounts(accountsOf([plug, fence]));
    const held = await (await Locker.open(server.database)).lockAccounts(accountsOf(pairs));
    const plugged = sendTransfers(client, requestsOn([plug], "plug"));
    await observer.waitFor("the plug to wait on the gate", (b) => lockWaiters(b).length === 1);
    const outcomes = sendTransfers(client, requestsOn(pairs, prefix));
    const fenced = sendTransfers(client, requestsOn([fence], "fence"), "TransferBatch");
    // The plug and the fence on the gate; without grouping, three of the calls on `held` too.
    await observer.waitFor("the fence to wait on the gate", (b) => lockWaiters(b).length === concurrency + 1);
    await gate.release();
    for (const o of [...(await plugged), ...(await fenced)]) expect(o.error && shapeOf(o.error)).toBeUndefined();
    const waiting = await observer.waitFor(`${concurrency} statement(s) to wait on the locks`, (b) => lockWaiters(b).length === concurrency);
    return { held, outcomes, waiting: lockWaiters(waiting).map((b) => b.pid) };
  }

  it(
    groupMax === 1
      ? "killed while their statements wait: the transfers in the database fail UNAVAILABLE, the queued ones apply; retries apply once"
      : "killed while the group's one statement waits: every member fails UNAVAILABLE, none is applied; retries apply once",
    async () => {
      const { held, outcomes, waiting } = await heldUpCalls("waiting");
      const terminated = await observer.terminateService();
      await held.release();
      const settled = await outcomes;

      expect(lockWaiters(terminated).map((b) => b.pid).sort()).toEqual([...waiting].sort());
      const failed = expectOnlyUnavailable(settled);
      if (groupMax === 1) {
        // Each statement fails alone. (A queued transfer sent next may meet a pooled connection
        // not yet known dead: also UNAVAILABLE, and at most once per connection.)
        expect(failed.length).toBeGreaterThanOrEqual(inDatabase);
        expect(failed.length).toBeLessThan(CALLS);
      } else {
        // One statement carried them all: the whole group fails at once, none re-run behind it.
        expect(failed).toHaveLength(CALLS);
      }
      // PostgreSQL's own notice (57P01) reached the statement.
      expect(expectLoggedErrorsClassified(server).map(shapeOf)).toContainEqual(expect.objectContaining(ADMIN_TERMINATION));
      await expectAppliedOnceAfterRetries(client, observer, settled, 0);
    },
  );

  it("TransferBatch (an interactive transaction) killed between two statements of their transactions: UNAVAILABLE, never half applied, retries apply once", async () => {
    const locker = await (await Locker.open(server.database)).lockAccounts(accountsOf(pairs));
    const outcomes = sendTransfers(client, requestsOn(pairs, "between"), "TransferBatch");
    // A full pool of transactions, each with its key claimed and waiting to lock its accounts.
    const waiting = lockWaiters(await observer.waitFor(`${POOL_MAX} transactions waiting on the locks`, (b) => lockWaiters(b).length >= POOL_MAX));
    killBetweenStatements(server.database, waiting.map((b) => b.pid), "idle in transaction");
    await locker.release();
    const settled = await outcomes;

    const failed = expectOnlyUnavailable(settled);
    expect(failed.length).toBeGreaterThanOrEqual(waiting.length);
    // The next statement of each went to a connection already known dead.
    expect(expectLoggedErrorsClassified(server).map(shapeOf)).toContainEqual(expect.objectContaining(deadConnectionShape(path)));
    await expectAppliedOnceAfterRetries(client, observer, settled, 0);
  });

  it("killed while idle in the pool: the calls right after all succeed, without a restart", async () => {
    await sendTransfers(client, requestsOn(pairs, "warm"));
    await observer.waitFor("idle connections only", (b) => b.length > 0 && b.every((x) => x.state === "idle"));
    expect((await observer.terminateService()).length).toBeGreaterThan(0);

    const settled = await sendTransfers(client, requestsOn(pairs, "after-idle"));
    expect(settled.filter((o) => o.error).map((o) => shapeOf(o.error))).toEqual([]);
    expectLoggedErrorsClassified(server);
    await expectAppliedOnceAfterRetries(client, observer, settled, 0);
  });

  it("after all of the above, a burst of calls all succeed", async () => {
    const settled = (
      await Promise.all([
        sendTransfers(client, [...requestsOn(pairs, "burst"), ...requestsOn(pairs, "burst")]),
        sendTransfers(client, requestsOn(pairs, "burst"), "TransferBatch"),
      ])
    ).flat();
    expect(settled.filter((o) => o.error).map((o) => shapeOf(o.error))).toEqual([]);
    expectLoggedErrorsClassified(server);
  });
});

describe("node-postgres' errors for a dead connection are matched exactly", () => {
  it("the real one is UNAVAILABLE; the same words on another error, or other words, are not", async () => {
    const database = await createTestDatabase();
    const observer = new Observer(database);
    const client = new pg.Client({ connectionString: database.url });
    try {
      await client.connect();
      // It reports its death twice: PostgreSQL's notice (57P01), then the socket closing.
      const died = new Promise((resolve) => client.on("error", resolve));
      await observer.terminateService(); // the client is not a test connection: it is terminated too
      await died;
      const real = await client.query("SELECT 1").then(
        () => undefined,
        (error: unknown) => error as Error,
      );
      expect(shapeOf(real)).toEqual({ class: "Error", message: NOT_QUERYABLE });
      expect(isUnavailable(real)).toBe(true);
      for (const lookalike of [
        Object.assign(new Error(NOT_QUERYABLE), { code: "XX000" }), // a code: someone else's error
        new TypeError(NOT_QUERYABLE),
        new Error(`${NOT_QUERYABLE}.`),
        new Error("Connection terminated"), // what pg says when the client was ended on purpose
      ]) {
        expect(isUnavailable(lookalike), String(lookalike)).toBe(false);
      }
    } finally {
      await client.end().catch(() => undefined);
      await observer.end();
      await database.drop();
    }
  });
});
