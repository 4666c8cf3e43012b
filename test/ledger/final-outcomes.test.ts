/**
 * The first decided outcome of an idempotency key is final: a refusal is
 * stored like a reply, an attempt that reaches the database later replays it
 * instead of executing, and an attempt whose caller has gone is dropped. The
 * interleavings are made deterministic with a row lock held by the test.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lockAccountRow } from "../support/barrier.js";
import { balanceOf, expectBooksBalance, fundedAccount, issuance, key, ledgerClient, reasonOf, rejection, userAccount, type LedgerClient } from "../support/ledger.js";
import { startReplica, type Replica } from "../support/replica.js";
import { startTestServer, type TestServer } from "../support/server.js";

/** One transfer group in the database at a time: a group held at the barrier holds everything queued behind it. */
const ONE_GROUP = { TRANSFER_GROUP_CONCURRENCY: "1" };

let server: TestServer;
let replica: Replica;
let a: LedgerClient;
let b: LedgerClient;

beforeAll(async () => {
  server = await startTestServer(ONE_GROUP);
  replica = await startReplica(server.database, ONE_GROUP);
  a = ledgerClient(server);
  b = ledgerClient(replica);
});

afterAll(async () => {
  await replica?.stop();
  await server?.close();
});

const answer = (error: ConnectError) => ({ code: Code[error.code], reason: reasonOf(error), message: error.rawMessage });

async function transfersWithKey(idempotencyKey: string): Promise<number> {
  const { rows } = await server.database.sql<{ n: number }>("SELECT count(*)::int AS n FROM transfers WHERE idempotency_key = $1", [idempotencyKey]);
  return rows[0]!.n;
}

describe("a refusal is final", () => {
  it("a retry refused on one replica is never overtaken by the first attempt, held back on another", async () => {
    const payer = await userAccount(a);
    const payee = await userAccount(a);
    const blocked = await userAccount(a);
    const barrier = await lockAccountRow(server.database, blocked.id);
    // Replica A's only group is held at the barrier; the first attempt queues behind it.
    const holder = a.transfer({ idempotencyKey: key("holder"), debitAccountId: await issuance(a), creditAccountId: blocked.id, amount: 1n });
    await barrier.waitForWaiters();
    const request = { idempotencyKey: key("pay"), debitAccountId: payer.id, creditAccountId: payee.id, amount: 10n };
    const first = a.transfer(request);
    // The retry reaches replica B, and is refused: correct at that moment.
    const refusal = await rejection(b.transfer(request));
    expect(answer(refusal)).toMatchObject({ code: "FailedPrecondition", reason: "INSUFFICIENT_FUNDS" });
    // Money arrives, then the first attempt is let through: it must replay the refusal, not pay.
    await b.transfer({ idempotencyKey: key("fund"), debitAccountId: await issuance(b), creditAccountId: payer.id, amount: 100n });
    await barrier.release();
    await holder;
    expect(answer(await rejection(first))).toEqual(answer(refusal));
    expect(answer(await rejection(a.transfer(request)))).toEqual(answer(refusal));
    expect(await transfersWithKey(request.idempotencyKey)).toBe(0);
    expect((await balanceOf(a, payer.id)).posted).toBe(100n);
    await expectBooksBalance(server.database);
  });

  it("every mutation stores its refusal: once the state changes, the same key is still refused, identically", async () => {
    const payer = await userAccount(a);
    const payee = await userAccount(b);
    const legs = [{ debitAccountId: payer.id, creditAccountId: payee.id, amount: 5n }];
    const cases: { name: string; call: (c: LedgerClient) => Promise<unknown> }[] = [
      { name: "Transfer", call: (c) => c.transfer({ idempotencyKey: keys.transfer, ...legs[0]! }) },
      { name: "TransferBatch", call: (c) => c.transferBatch({ idempotencyKey: keys.batch, legs }) },
      { name: "CreateHold", call: (c) => c.createHold({ idempotencyKey: keys.hold, ...legs[0]! }) },
    ];
    const keys = { transfer: key("t"), batch: key("b"), hold: key("h") };
    const first = await Promise.all(cases.map(async (c) => answer(await rejection(c.call(a)))));
    for (const refused of first) expect(refused.reason).toBe("INSUFFICIENT_FUNDS");
    await a.transfer({ idempotencyKey: key("fund"), debitAccountId: await issuance(a), creditAccountId: payer.id, amount: 100n });
    // On the other replica, and again on the first: the stored refusal, never an execution.
    for (const [i, c] of cases.entries()) {
      expect(answer(await rejection(c.call(b))), c.name).toEqual(first[i]);
      expect(answer(await rejection(c.call(a))), c.name).toEqual(first[i]);
    }
    expect((await balanceOf(a, payer.id)).posted).toBe(100n);
    expect((await balanceOf(a, payer.id)).pendingDebits).toBe(0n);
    // A new key is a new request: it pays.
    await a.transfer({ idempotencyKey: key("t2"), ...legs[0]! });
    expect((await balanceOf(a, payer.id)).posted).toBe(95n);
  });

  it("a refusal the database decides (a unique handle) is stored too: freeing the handle does not change the key's answer", async () => {
    const identity = (await import("../support/ledger.js")).identityClient(a);
    const handle = `h${Date.now().toString(36)}`;
    const taken = await identity.createUser({ idempotencyKey: key("u1"), handle });
    const request = { idempotencyKey: key("u2"), handle };
    const refusal = answer(await rejection(identity.createUser(request)));
    expect(refusal).toMatchObject({ code: "AlreadyExists", reason: "ALREADY_EXISTS" });
    await identity.deleteUser({ idempotencyKey: key("del"), userId: taken.user!.id });
    expect(answer(await rejection(identity.createUser(request)))).toEqual(refusal);
    // A new key registers the freed handle.
    expect((await identity.createUser({ idempotencyKey: key("u3"), handle })).user?.handle).toBe(handle);
  });

  it("concurrent duplicates of a refused request all get the one stored refusal", async () => {
    const payer = await userAccount(a);
    const payee = await userAccount(a);
    const request = { idempotencyKey: key("dup"), debitAccountId: payer.id, creditAccountId: payee.id, amount: 1n };
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).transfer(request)));
    const answers = results.map((r) => (r.status === "rejected" ? answer(ConnectError.from(r.reason)) : "paid"));
    expect(new Set(answers.map((x) => JSON.stringify(x))).size).toBe(1);
    expect(answers[0]).toMatchObject({ reason: "INSUFFICIENT_FUNDS" });
  });
});

describe("an abandoned attempt is dropped", () => {
  it("a transfer whose deadline passed while queued never commits, even once funds are there", async () => {
    const payer = await fundedAccount(a, 100n);
    const payee = await userAccount(a);
    const blocked = await userAccount(a);
    const barrier = await lockAccountRow(server.database, blocked.id);
    const holder = a.transfer({ idempotencyKey: key("holder"), debitAccountId: await issuance(a), creditAccountId: blocked.id, amount: 1n });
    await barrier.waitForWaiters();
    const request = { idempotencyKey: key("late"), debitAccountId: payer.id, creditAccountId: payee.id, amount: 10n };
    const gone = await rejection(a.transfer(request, { timeoutMs: 200 }));
    expect(gone.code).toBe(Code.DeadlineExceeded);
    await barrier.release();
    await holder;
    // Groups run in order: once a transfer queued after it has committed, the abandoned one was handled.
    await a.transfer({ idempotencyKey: key("after"), debitAccountId: await issuance(a), creditAccountId: payee.id, amount: 1n });
    expect(await transfersWithKey(request.idempotencyKey)).toBe(0);
    const { rows } = await server.database.sql("SELECT 1 FROM idempotency_keys WHERE key = $1", [request.idempotencyKey]);
    expect(rows).toEqual([]);
    expect((await balanceOf(a, payer.id)).posted).toBe(100n);
    // Its retry, with the key, is the first attempt that counts.
    expect((await a.transfer(request)).transfer?.amount).toBe(10n);
  });

  it("a batch whose caller left while it waited for a database connection is rolled back, not committed", async () => {
    const narrow = await startReplica(server.database, { DB_POOL_MAX: "2", TRANSFER_GROUP_MAX: "1" });
    try {
      const c = ledgerClient(narrow);
      const payer = await fundedAccount(a, 100n);
      const payee = await userAccount(a);
      const blocked = [await userAccount(a), await userAccount(a)];
      // Disjoint accounts, so the two holders may run at once (groups never share an account in flight).
      const sources = [await fundedAccount(a, 1n), await fundedAccount(a, 1n)];
      const barrier = await lockAccountRow(server.database, ...blocked.map((b) => b.id));
      // Both pooled connections wait at the barrier (one transfer on each blocked account, in groups of their own).
      const holders = blocked.map((b, i) => c.transfer({ idempotencyKey: key("holder"), debitAccountId: sources[i]!.id, creditAccountId: b.id, amount: 1n }));
      await barrier.waitForWaiters(2);
      const request = { idempotencyKey: key("batch"), legs: [{ debitAccountId: payer.id, creditAccountId: payee.id, amount: 10n }] };
      expect((await rejection(c.transferBatch(request, { timeoutMs: 200 }))).code).toBe(Code.DeadlineExceeded);
      await barrier.release();
      await Promise.all(holders);
      await c.transferBatch({ idempotencyKey: key("after"), legs: [{ debitAccountId: await issuance(c), creditAccountId: payee.id, amount: 1n }] });
      const { rows } = await server.database.sql("SELECT 1 FROM idempotency_keys WHERE key = $1", [request.idempotencyKey]);
      expect(rows).toEqual([]);
      expect((await balanceOf(a, payer.id)).posted).toBe(100n);
    } finally {
      await narrow.stop();
    }
  });
});
