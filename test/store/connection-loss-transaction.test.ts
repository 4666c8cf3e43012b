/**
 * One call at a time, its connection taken away at a chosen point, on both
 * database paths. Each failure must reach the client as UNAVAILABLE, never
 * INTERNAL; nothing be half applied; a retry with the same key apply once
 * (or replay what PostgreSQL committed); and the calls after it succeed
 * without a restart.
 *
 * Two shapes of write are taken apart:
 * - Transfer: ONE statement (`SELECT ledger_post_transfers(…)`), which
 *   PostgreSQL runs as one implicit transaction. It has no "between two
 *   statements" and no COMMIT of its own: it is killed while it waits on a
 *   row lock, right after it committed, or cut off by the network while it
 *   waits (PostgreSQL, not told, runs it to its commit).
 * - TransferBatch (and CreateUser): an interactive transaction, BEGIN ·
 *   claim the key and lock the accounts · write · COMMIT. It is killed
 *   between two statements, while a statement waits, while COMMIT waits,
 *   right after COMMIT, and cut off by the network while a statement waits
 *   (PostgreSQL rolls it back).
 * Reads killed while they wait answer UNAVAILABLE too.
 */
import { Code } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { killBetweenStatements, Locker, lockWaiters, Observer, startRecordedServer, type RecordedServer } from "../support/connection-loss.js";
import {
  expectAppliedOnceAfterRetries,
  expectLoggedErrorsClassified,
  expectOnlyUnavailable,
  sendTransfers,
  shapeOf,
  storedKeyOf,
  type TransferOutcome,
  type Via,
} from "../support/connection-loss-checks.js";
import { expectBooksBalance, identityClient, key, ledgerClient, newUserId, userAccount, type LedgerClient } from "../support/ledger.js";
import { startNetworkProxy, type NetworkCut } from "../support/network-proxy.js";

/** A deferred trigger that makes a new transfer's COMMIT wait while the locker holds advisory lock GATE. */
const GATE = 4242;
const GATE_SQL = [
  `CREATE FUNCTION connloss_commit_gate() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN PERFORM pg_advisory_xact_lock_shared(${GATE}); RETURN NULL; END $$`,
  `CREATE CONSTRAINT TRIGGER connloss_commit_gate AFTER INSERT ON transfers
     DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION connloss_commit_gate()`,
];
/** A deferred trigger that fails a new transfer's commit: a failure of the database's own, not a lost connection. */
const BUG_SQL = [
  `CREATE FUNCTION connloss_commit_bug() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN RAISE EXCEPTION 'a bug at commit'; END $$`,
  `CREATE CONSTRAINT TRIGGER connloss_commit_bug AFTER INSERT ON transfers
     DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION connloss_commit_bug()`,
];

const NOT_QUERYABLE = "Client has encountered a connection error and is not queryable";
const TERMINATED = "Connection terminated unexpectedly";
const ADMIN_57P01 = "terminating connection due to administrator command";

describe.each(["direct" as const, "accelerate" as const])("one call's connection taken away (%s)", (path) => {
  let server: RecordedServer;
  let client: LedgerClient;
  let observer: Observer;
  let network: NetworkCut;
  /** Owner of the test's accounts. */
  let userId: string;
  /** What a client on this path meets when its connection is gone: node-postgres' error, or the executor's P6000 carrying it. */
  const raw = (message: string) =>
    path === "direct" ? { class: "Error", message } : { class: "PrismaClientKnownRequestError", code: "P6000", metaError: message };
  /** A statement whose backend was terminated under it: PostgreSQL's own notice, on both paths. */
  const adminTermination = { class: "PrismaClientKnownRequestError", code: "P2010", kind: "postgres", originalCode: "57P01" };

  beforeAll(async () => {
    server = await startRecordedServer({}, path, async (db) => {
      network = await startNetworkProxy(db.url);
      return network.url;
    });
    client = ledgerClient(server);
    observer = new Observer(server.database);
    userId = await newUserId(client);
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
    await network?.stop();
  });

  async function freshRequest(prefix: string) {
    const debit = await userAccount(client, { allowNegative: true, overdraftLimit: 1_000_000n, userId });
    const credit = await userAccount(client, { userId });
    return { idempotencyKey: key(prefix), debitAccountId: debit.id, creditAccountId: credit.id, amount: 7n };
  }

  /** A transfer between two fresh accounts, sent `via` while `hold` has a locker hold it up; resolves once it waits. */
  async function heldUp(via: Via, hold: (locker: Locker, accounts: string[]) => Promise<unknown>) {
    const request = await freshRequest("one");
    const locker = await Locker.open(server.database);
    await hold(locker, [request.debitAccountId, request.creditAccountId]);
    const outcome = sendTransfers(client, [request], via);
    const [waiter] = lockWaiters(await observer.waitFor(`the ${via} call to wait on the locker`, (b) => lockWaiters(b).length === 1));
    return { request, locker, outcome, pid: waiter!.pid };
  }

  /** The one failure is UNAVAILABLE, its error had `shape`, nothing was stored, and a retry applies it once. */
  async function expectRetriedOnce(outcomes: TransferOutcome[], shape: Record<string, unknown>) {
    expect(expectOnlyUnavailable(outcomes)).toHaveLength(1);
    expect(expectLoggedErrorsClassified(server).map(shapeOf)).toContainEqual(expect.objectContaining(shape));
    await expectAppliedOnceAfterRetries(client, observer, outcomes, 0);
  }

  async function withTriggers<T>(sql: string[], name: string, run: () => Promise<T>): Promise<T> {
    for (const s of sql) await observer.books.sql(s);
    try {
      return await run();
    } finally {
      await observer.books.sql(`DROP TRIGGER ${name} ON transfers`);
      await observer.books.sql(`DROP FUNCTION ${name}()`);
    }
  }

  // ── Transfer: one statement, one implicit transaction ─────────────────

  it.each(["Transfer", "TransferBatch"] as const)(
    "%s killed while its statement waits on a row lock: UNAVAILABLE, nothing applied, the retry applies once",
    async (via) => {
      const { locker, outcome } = await heldUp(via, (l, ids) => l.lockAccounts(ids));
      await observer.terminateService();
      await locker.release();
      await expectRetriedOnce(await outcome, adminTermination);
    },
  );

  it("Transfer killed right after its statement committed: OK (the reply was on the wire), the retry replays it, the dead client is not reused", async () => {
    const { request, outcome, pid } = await heldUp("Transfer", (l, ids) => l.lockAccounts(ids));
    // The locker goes, the statement commits and replies, and its backend is terminated before the service reads the reply.
    killBetweenStatements(server.database, [pid], "idle");
    const [answered] = await outcome;
    expect(answered!.error && shapeOf(answered!.error)).toBeUndefined();
    await expectAppliedOnceAfterRetries(client, observer, [answered!], 0);
    // A retry of the answered call, sent on a connection other than the dead one, replays it.
    const [again] = await sendTransfers(client, [request]);
    expect(again!.error && shapeOf(again!.error)).toBeUndefined();
    expect(again!.transferId).toBe(answered!.transferId);
    expect((await observer.transfersByKey([request.idempotencyKey])).get(request.idempotencyKey)?.count).toBe(1);
    expectLoggedErrorsClassified(server);
  });

  it.each(["close", "reset"] as const)(
    "the network drops Transfer's connection (%s) while its statement waits: UNAVAILABLE; PostgreSQL, not told, commits it; the retry replays it",
    async (how) => {
      const { locker, outcome, pid } = await heldUp("Transfer", (l, ids) => l.lockAccounts(ids));
      network.cut(how);
      const settled = await outcome;
      expect(expectOnlyUnavailable(settled)).toHaveLength(1);
      // With a reset, adapter-pg sees ECONNRESET and names it; the executor passes node-postgres' message on.
      expect(expectLoggedErrorsClassified(server).map(shapeOf)).toContainEqual(
        expect.objectContaining(how === "reset" && path === "direct" ? { code: "P2010", kind: "ConnectionClosed" } : raw(TERMINATED)),
      );
      // The backend waits on, unaware; let it through and wait until it is gone. Its one statement
      // ran to its end and committed (it learns the client is gone only when it replies).
      await locker.release();
      await observer.waitGone("the cut-off backend to finish", [pid]);
      await expectAppliedOnceAfterRetries(client, observer, settled, 1);
    },
  );

  it("a Transfer whose statement fails for a reason of its own is not taken for a lost connection: INTERNAL, nothing stored", async () => {
    await expectOwnFailureIsInternal("Transfer", { class: "PrismaClientKnownRequestError", code: "P2010", originalCode: "P0001" });
  });

  // ── TransferBatch, CreateUser: interactive transactions ─────────────────

  it("TransferBatch killed between two statements of its transaction: UNAVAILABLE, rolled back, the retry applies once", async () => {
    const { outcome, pid } = await heldUp("TransferBatch", (locker, ids) => locker.lockAccounts(ids));
    killBetweenStatements(server.database, [pid], "idle in transaction");
    await expectRetriedOnce(await outcome, raw(NOT_QUERYABLE));
  });

  it("TransferBatch killed while its COMMIT waits: rolled back, UNAVAILABLE; killed right after COMMIT: OK, and the dead client is not reused", async () => {
    await withTriggers(GATE_SQL, "connloss_commit_gate", async () => {
      const atCommit = await heldUp("TransferBatch", (l) => l.lockAdvisory(GATE));
      await observer.terminateService();
      await atCommit.locker.release();
      // adapter-pg's COMMIT error comes bare; the executor answers it with a 500.
      await expectRetriedOnce(
        await atCommit.outcome,
        path === "direct" ? { class: "DriverAdapterError", kind: "postgres", originalCode: "57P01" } : raw(ADMIN_57P01),
      );

      const afterCommit = await heldUp("TransferBatch", (l) => l.lockAdvisory(GATE));
      killBetweenStatements(server.database, [afterCommit.pid], "idle");
      const settled = await afterCommit.outcome;
      expect(expectOnlyUnavailable(settled)).toEqual([]);
      await expectAppliedOnceAfterRetries(client, observer, settled, 0);
      // The next write finds no dead connection in the pool.
      const next = await sendTransfers(client, [await freshRequest("next")], "TransferBatch");
      expect(next.map((o) => o.error && shapeOf(o.error))).toEqual([undefined]);
    });
  });

  it("a TransferBatch whose COMMIT fails for a reason of its own is not taken for a lost connection: INTERNAL, nothing stored", async () => {
    // Where a lost connection shows, the same point failing otherwise: a bare DriverAdapterError, or the executor's P6000.
    await expectOwnFailureIsInternal("TransferBatch", path === "direct" ? { class: "DriverAdapterError", originalCode: "P0001" } : raw("a bug at commit"));
  });

  /** A transfer sent `via` meets a deferred trigger that fails its commit: INTERNAL with `shape` logged, nothing named unavailable, nothing stored. */
  async function expectOwnFailureIsInternal(via: Via, shape: Record<string, unknown>) {
    const request = await freshRequest("bug");
    const [outcome] = await withTriggers(BUG_SQL, "connloss_commit_bug", () => sendTransfers(client, [request], via));
    expect({ code: outcome!.error?.code, message: outcome!.error?.rawMessage }).toEqual({ code: Code.Internal, message: "internal error" });
    const logged = server.logged.splice(0);
    expect(logged.filter((l) => /^unhandled error/.test(l.msg)).map((l) => shapeOf(l.err))).toContainEqual(expect.objectContaining(shape));
    expect(logged.filter((l) => l.msg === "database unavailable or too slow")).toEqual([]);
    expect((await observer.transfersByKey([storedKeyOf(outcome!)])).size).toBe(0);
  }

  it.each(["close", "reset"] as const)(
    "the network drops TransferBatch's connection (%s) while a statement of its transaction waits: UNAVAILABLE, rolled back, the retry applies once",
    async (how) => {
      const { locker, outcome, pid } = await heldUp("TransferBatch", (l, ids) => l.lockAccounts(ids));
      network.cut(how);
      const settled = await outcome;
      // The backend waits on, unaware; let it through: it finds its client gone before COMMIT, and rolls back.
      await locker.release();
      await observer.waitGone("the cut-off backend to finish", [pid]);
      // With a reset, adapter-pg sees ECONNRESET and names it; the executor passes node-postgres' message on.
      await expectRetriedOnce(settled, how === "reset" && path === "direct" ? { code: "P2010", kind: "ConnectionClosed" } : raw(TERMINATED));
    },
  );

  it("another service's transaction (CreateUser) killed between two statements: UNAVAILABLE, and its retry creates the user once", async () => {
    const locker = await Locker.open(server.database);
    await locker.lockTable("accounts", "SHARE"); // the user row is written, the wallet waits
    const request = { idempotencyKey: key("user"), handle: `u${key().replaceAll("-", "").slice(2, 22)}` };
    const created = identityClient(client).createUser(request).then(() => ({}), (error: unknown) => ({ error: error as never }));
    const [waiter] = lockWaiters(await observer.waitFor("CreateUser to wait on the locker", (b) => lockWaiters(b).length === 1));
    killBetweenStatements(server.database, [waiter!.pid], "idle in transaction");
    expect(expectOnlyUnavailable([await created])).toHaveLength(1);
    expect(expectLoggedErrorsClassified(server).map(shapeOf)).toContainEqual(expect.objectContaining(raw(NOT_QUERYABLE)));
    const { rows } = await observer.books.sql("SELECT count(*)::int AS n FROM users WHERE handle = $1", [request.handle]);
    expect(rows[0]!.n).toBe(0);
    const user = (await identityClient(client).createUser(request)).user!;
    expect((await observer.books.sql("SELECT id FROM users WHERE handle = $1", [request.handle])).rows).toEqual([{ id: user.id }]);
  });

  // ── Reads ─────────────────────────────────────────────────────────────

  it("reads killed while they wait answer UNAVAILABLE", async () => {
    const account = await userAccount(client, { userId });
    const locker = await Locker.open(server.database);
    await locker.lockTable("accounts", "ACCESS EXCLUSIVE");
    const reads = [client.getBalance({ accountId: account.id }), client.listAccounts({ currency: "USD" })].map((call) =>
      call.then(() => ({}), (error: unknown) => ({ error: error as never })),
    );
    await observer.waitFor("the reads to wait on the locker", (b) => lockWaiters(b).length === 2);
    await observer.terminateService();
    await locker.release();
    expect(expectOnlyUnavailable(await Promise.all(reads))).toHaveLength(2);
    // Outside any transaction: the RPC layer's classifier named them (both reads are fixed raw statements).
    expect(expectLoggedErrorsClassified(server).map(shapeOf)).toContainEqual(
      expect.objectContaining(adminTermination),
    );
    expect((await client.getBalance({ accountId: account.id })).balance?.posted).toBe(0n);
  });

  it("after all of the above, a burst of calls all succeed", async () => {
    const requests = await Promise.all(Array.from({ length: 8 }, () => freshRequest("burst")));
    const burst = requests.flatMap((r) => Array.from({ length: 4 }, () => ({ ...r, idempotencyKey: key("burst") })));
    const batches = burst.map((r) => ({ ...r, idempotencyKey: key("batch") }));
    const settled = (await Promise.all([sendTransfers(client, burst), sendTransfers(client, batches, "TransferBatch")])).flat();
    expect(settled.filter((o) => o.error).map((o) => shapeOf(o.error))).toEqual([]);
    expectLoggedErrorsClassified(server);
  });
});
