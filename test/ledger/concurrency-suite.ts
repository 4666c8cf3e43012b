/**
 * Concurrency is the normal case: double spends, opposite transfers and
 * retry storms, through a real gRPC client against real PostgreSQL.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import type { TestDatabase } from "../support/db.js";
import { balanceOf, fundedAccount, issuance, key, useCompiledLedgerServer, useLedgerServer, reasonOf, userAccount, settle, type LedgerClient } from "../support/ledger.js";

/** Where the suite's server runs. */
export interface SuiteTarget {
  /**
   * Run the compiled server (`dist/`, as `npm start` does) in its own
   * process and spread the calls over this many connections, e.g. to reach
   * every worker of WORKERS > 1. Default: the service in the test's process,
   * one connection.
   */
  compiledConnections?: number;
}

/**
 * The concurrency suite, run by three files: with group commit (the default),
 * with one transaction per transfer (TRANSFER_GROUP_MAX=1), so both write
 * paths face the same storms, and against several worker processes
 * (WORKERS=2), each with its own group commit. Returns the suite's context
 * (set once `beforeAll` has run).
 */
export function concurrencySuite(env: Record<string, string>, target: SuiteTarget = {}): { server: { database: TestDatabase }; client: LedgerClient } {
const ctx = target.compiledConnections
  ? useCompiledLedgerServer({ DB_POOL_MAX: "10", ...env }, target.compiledConnections)
  : useLedgerServer({ DB_POOL_MAX: "10", ...env });

describe("double spend", () => {
  it("lets exactly k of 200 concurrent transfers through when the balance covers k", async () => {
    const k = 37;
    const amount = 10n;
    const payer = await fundedAccount(ctx.client, amount * BigInt(k));
    const payees = await Promise.all(Array.from({ length: 4 }, () => userAccount(ctx.client)));
    const requests = Array.from({ length: 200 }, (_, i) => ({ idempotencyKey: key("spend"), debitAccountId: payer.id, creditAccountId: payees[i % 4]!.id, amount }));
    const results = await Promise.allSettled(requests.map((r) => ctx.client.transfer(r)));
    const ok = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const failed = results.flatMap((r) => (r.status === "rejected" ? [ConnectError.from(r.reason)] : []));
    const refused = requests.filter((_, i) => results[i]!.status === "rejected");
    expect(ok.length).toBe(k);
    expect(failed.length).toBe(200 - k);
    for (const error of failed) {
      expect(error.code).toBe(Code.FailedPrecondition);
      expect(reasonOf(error)).toBe("INSUFFICIENT_FUNDS");
    }
    expect((await balanceOf(ctx.client, payer.id)).posted).toBe(0n);
    // Never negative along the way: every recorded balance of the payer is >= 0.
    const { rows } = await ctx.server.database.sql<{ n: number }>("SELECT count(*)::int AS n FROM entries WHERE account_id = $1 AND balance_after < 0", [payer.id]);
    expect(rows[0]!.n).toBe(0);
    // A refusal is the key's final outcome: once funded, its retry is refused again, identically, and pays nothing.
    await ctx.client.transfer({ idempotencyKey: key("refund"), debitAccountId: await issuance(ctx.client), creditAccountId: payer.id, amount });
    const again = await settle([ctx.client.transfer(refused[0]!)]);
    expect(again.failed.map((e) => [Code[e.code], reasonOf(e), e.rawMessage])).toEqual([[Code[failed[0]!.code], "INSUFFICIENT_FUNDS", failed[0]!.rawMessage]]);
    expect((await balanceOf(ctx.client, payer.id)).posted).toBe(amount);
  });
});

describe("opposite transfers", () => {
  it("A→B and B→A hammered in parallel: no deadlock reaches a client, totals conserved", async () => {
    const a = await fundedAccount(ctx.client, 1_000_000n);
    const b = await fundedAccount(ctx.client, 1_000_000n);
    const deadline = Date.now() + 3_000;
    const errors: ConnectError[] = [];
    let done = 0;
    const worker = async (from: string, to: string) => {
      while (Date.now() < deadline) {
        try {
          await ctx.client.transfer({ idempotencyKey: key("ab"), debitAccountId: from, creditAccountId: to, amount: 1n + BigInt(done % 7) });
          done++;
        } catch (error) {
          errors.push(ConnectError.from(error));
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? worker(a.id, b.id) : worker(b.id, a.id))));
    expect(errors.map((e) => `${Code[e.code]} ${e.rawMessage}`)).toEqual([]);
    expect(done).toBeGreaterThan(0);
    const total = (await balanceOf(ctx.client, a.id)).posted + (await balanceOf(ctx.client, b.id)).posted;
    expect(total).toBe(2_000_000n);
  });
});

describe("one bad transfer among many", () => {
  it("does not fail its neighbours, even when it breaks the shared write", async () => {
    const a = await fundedAccount(ctx.client, 1_000n);
    const b = await userAccount(ctx.client);
    const old = { idempotencyKey: key("purged"), debitAccountId: a.id, creditAccountId: b.id, amount: 1n };
    await ctx.client.transfer(old);
    // Its reply has been purged, but the transfer keeps its key: re-running it must fail in the database.
    await ctx.server.database.sql("DELETE FROM idempotency_keys WHERE key = $1", [old.idempotencyKey]);
    const others = Array.from({ length: 15 }, () => ({ idempotencyKey: key("ok"), debitAccountId: a.id, creditAccountId: b.id, amount: 2n }));
    const results = await Promise.allSettled([...others, old, ...others.map((o) => ({ ...o, amount: 3n, idempotencyKey: key("ok") }))].map((r) => ctx.client.transfer(r)));
    const failed = results.flatMap((r) => (r.status === "rejected" ? [ConnectError.from(r.reason)] : []));
    expect(failed.map((e) => reasonOf(e))).toEqual(["IDEMPOTENCY_KEY_REUSED"]);
    expect((await balanceOf(ctx.client, a.id)).posted).toBe(1_000n - 1n - 15n * 2n - 15n * 3n);
  });
});

describe("retry storms", () => {
  it("the same Transfer 20 times at once, and again after, leaves one journal record and identical replies", async () => {
    const a = await fundedAccount(ctx.client, 1_000n);
    const b = await userAccount(ctx.client);
    const request = { idempotencyKey: key("storm"), debitAccountId: a.id, creditAccountId: b.id, amount: 25n };
    const { ok, failed } = await settle(Array.from({ length: 20 }, () => ctx.client.transfer(request)));
    expect(failed).toEqual([]);
    const later = await ctx.client.transfer(request);
    const ids = new Set([...ok, later].map((r) => r.transfer!.id));
    expect(ids.size).toBe(1);
    for (const reply of ok) expect(reply).toEqual(later);
    const { rows } = await ctx.server.database.sql<{ n: number }>("SELECT count(*)::int AS n FROM transfers WHERE idempotency_key = $1", [request.idempotencyKey]);
    expect(rows[0]!.n).toBe(1);
    expect((await balanceOf(ctx.client, a.id)).posted).toBe(975n);

    const reused = await settle([ctx.client.transfer({ ...request, amount: 26n })]);
    expect(reused.failed[0]?.code).toBe(Code.AlreadyExists);
    expect(reasonOf(reused.failed[0]!)).toBe("IDEMPOTENCY_KEY_REUSED");
  });

  it("two different requests racing on one key: one executes, the other is told the key is taken", async () => {
    const a = await fundedAccount(ctx.client, 1_000n);
    const b = await userAccount(ctx.client);
    const k = key("race");
    const { ok, failed } = await settle([
      ctx.client.transfer({ idempotencyKey: k, debitAccountId: a.id, creditAccountId: b.id, amount: 1n }),
      ctx.client.transfer({ idempotencyKey: k, debitAccountId: a.id, creditAccountId: b.id, amount: 2n }),
    ]);
    expect(ok.length).toBe(1);
    expect(failed.map((e) => reasonOf(e))).toEqual(["IDEMPOTENCY_KEY_REUSED"]);
    expect((await balanceOf(ctx.client, b.id)).posted).toBe(ok[0]!.transfer!.amount);
  });
});
return ctx;
}
