/**
 * Bounded work under a flood: transfers whose callers give up (a 1 ms
 * deadline) leave the queue at once and never reach the database, and the
 * queue refuses more than it may hold, with a retry delay, instead of growing.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RetryInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { lockAccountRow } from "../support/barrier.js";
import { balanceOf, expectBooksBalance, fundedAccount, issuance, key, ledgerClient, reasonOf, userAccount, type LedgerClient } from "../support/ledger.js";
import { startTestServer, type TestServer } from "../support/server.js";

const QUEUE_MAX = 40;
let server: TestServer;
let client: LedgerClient;

beforeAll(async () => {
  server = await startTestServer({ TRANSFER_GROUP_CONCURRENCY: "1", TRANSFER_QUEUE_MAX: String(QUEUE_MAX) });
  client = ledgerClient(server);
});

afterAll(async () => {
  await server?.close();
});

describe("a flood of transfers", () => {
  it("abandoned at a 1 ms deadline: they free the queue at once, and none of them is committed", async () => {
    const payer = await fundedAccount(client, 10_000n);
    const payee = await userAccount(client);
    const blocked = await userAccount(client);
    const barrier = await lockAccountRow(server.database, blocked.id);
    const holder = client.transfer({ idempotencyKey: key("holder"), debitAccountId: await issuance(client), creditAccountId: blocked.id, amount: 1n });
    await barrier.waitForWaiters();

    const request = () => ({ idempotencyKey: key("flood"), debitAccountId: payer.id, creditAccountId: payee.id, amount: 1n });
    const flood = Array.from({ length: 400 }, request);
    const answers = await Promise.allSettled(flood.map((r) => client.transfer(r, { timeoutMs: 1 })));
    // Every answer says "unknown outcome": the deadline, or a full queue.
    for (const a of answers) expect(a.status === "rejected" && Code[ConnectError.from(a.reason).code]).toMatch(/^(DeadlineExceeded|Unavailable)$/);
    // Callers that surely were queued, then gave up: exactly a full queue of them.
    const waited = Array.from({ length: QUEUE_MAX }, request);
    flood.push(...waited);
    for (const a of await Promise.allSettled(waited.map((r) => client.transfer(r, { timeoutMs: 150 })))) {
      expect(a.status === "rejected" && ConnectError.from(a.reason).code).toBe(Code.DeadlineExceeded);
    }

    // The queue holds only callers who still wait: QUEUE_MAX live transfers fit, one more is refused.
    const live = Array.from({ length: QUEUE_MAX }, () => ({ idempotencyKey: key("live"), debitAccountId: payer.id, creditAccountId: payee.id, amount: 2n }));
    const queued = live.map((r) => client.transfer(r));
    const overflow = await Promise.allSettled([client.transfer({ idempotencyKey: key("over"), debitAccountId: payer.id, creditAccountId: payee.id, amount: 3n })]);
    const refused = ConnectError.from((overflow[0] as PromiseRejectedResult).reason);
    expect([Code[refused.code], reasonOf(refused)]).toEqual(["Unavailable", "OVERLOADED"]);
    expect(refused.findDetails(RetryInfoSchema)[0]?.retryDelay).toBeDefined();

    await barrier.release();
    await holder;
    expect((await Promise.all(queued)).length).toBe(QUEUE_MAX);
    const { rows } = await server.database.sql<{ n: number }>("SELECT count(*)::int AS n FROM idempotency_keys WHERE key = ANY($1)", [flood.map((r) => r.idempotencyKey)]);
    expect(rows[0]!.n).toBe(0);
    expect((await balanceOf(client, payer.id)).posted).toBe(10_000n - 2n * BigInt(QUEUE_MAX));
    await expectBooksBalance(server.database);
  });
});
