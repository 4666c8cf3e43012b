/**
 * Group commit (TransferGroups) against an in-memory store: isolation,
 * ordering, bounds, cancellation and the fallback rule, each with the store
 * recording what reached it. No clocks: groups are held in their claim by a
 * gate the test opens.
 */
import { describe, expect, it, vi } from "vitest";
import { DomainError, ErrorReason } from "../../../src/domain/errors.js";
import type { Idempotency, Outcome } from "../../../src/domain/idempotency.js";
import type { TransferCommand } from "../../../src/domain/ledger/commands.js";
import { TransferGroups, type GroupCommitOptions } from "../../../src/domain/ledger/group-commit.js";
import type { Transfer } from "../../../src/domain/ledger/types.js";
import { FakeLedgerStore } from "../support/fake-ledger-store.js";

const encode = (t: Transfer) => Buffer.from(`transfer ${t.debitAccountId}->${t.creditAccountId} ${t.amount}`);
const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : Buffer.from(bytes).toString());

function idem(key: string, signal?: AbortSignal): Idempotency<Transfer> {
  return {
    claim: { scope: "ledger.Transfer", key, requestHash: Buffer.from(`request of ${key}`) },
    encode,
    refuse: (error) => Buffer.from(`refused ${error.reason}`),
    context: { actor: "svc:test", onBehalfOf: null, requestId: `req-${key}`, signal },
  };
}

const cmd = (key: string, debitAccountId: string, creditAccountId: string, amount: bigint): TransferCommand => ({
  idempotencyKey: key,
  debitAccountId,
  creditAccountId,
  amount,
  currency: "",
  memo: "",
});

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  let entered!: () => void;
  const reached = new Promise<void>((resolve) => (entered = resolve));
  return { open, opened, reached, entered };
}

/** A store with accounts `alice` (100), `bob` and `carol` (0), floored at zero, and `mint` (unbounded); and groups over it. */
function setup(options: Partial<GroupCommitOptions> = {}, single = vi.fn<(c: TransferCommand, i: Idempotency<Transfer>) => Promise<Outcome<Transfer>>>()) {
  const store = new FakeLedgerStore();
  store.account("alice", 100n);
  store.account("bob", 0n);
  store.account("carol", 0n);
  store.account("mint", 0n, null);
  const groups = new TransferGroups(store, { maxSize: 64, maxConcurrent: 1, ...options }, single);
  const submit = (key: string, from: string, to: string, amount: bigint, signal?: AbortSignal) => groups.submit(cmd(key, from, to, amount), idem(key, signal));
  return { store, groups, submit, single };
}

/** Holds the first statement whose keys include `key` in the database until `open()`. */
function holdGroupOf(store: FakeLedgerStore, key: string) {
  const g = gate();
  let held = false;
  store.hooks.beforePost = async (keys) => {
    if (held || !keys.includes(key)) return;
    held = true;
    g.entered();
    await g.opened;
  };
  return g;
}

describe("TransferGroups", () => {
  it("isolation: a refused transfer does not fail its group; its refusal is stored under its key", async () => {
    const { store, submit } = setup();
    const blocker = holdGroupOf(store, "blocker");
    const first = submit("blocker", "mint", "carol", 1n);
    await blocker.reached;
    const results = Promise.all([submit("t1", "alice", "bob", 30n), submit("t2", "alice", "bob", 1_000n), submit("t3", "mint", "bob", 5n)]);
    blocker.open();
    await first;
    const [t1, t2, t3] = await results;

    expect(store.statements).toEqual([["blocker"], ["t1", "t2", "t3"]]);
    expect(t1.result?.amount).toBe(30n);
    expect(text(t2.refusal)).toBe("refused INSUFFICIENT_FUNDS");
    expect(t3.result?.amount).toBe(5n);
    expect(store.keys.get("t2")?.outcome).toMatchObject({ kind: "error", error: { reason: ErrorReason.INSUFFICIENT_FUNDS } });
    expect(store.keys.get("t1")?.outcome.kind).toBe("result");
    expect(store.writes[1]!.transfers.map((t) => t.idempotencyKey)).toEqual(["t1", "t3"]);
    expect([store.accounts.get("alice")!.posted, store.accounts.get("bob")!.posted]).toEqual([70n, 35n]);
  });

  it("ordering: a key is never in two groups at once; its retry waits for the group holding it, then replays", async () => {
    const { store, groups, submit } = setup({ maxConcurrent: 2 });
    const held = holdGroupOf(store, "k1");
    const first = submit("k1", "alice", "bob", 10n);
    await held.reached;
    const retry = submit("k1", "alice", "bob", 10n);
    // A free slot takes k2 (other accounts) at once; the retry of k1 keeps waiting.
    expect((await submit("k2", "mint", "carol", 1n)).result?.amount).toBe(1n);
    expect(groups.queued).toBe(1);
    expect(store.statements).toEqual([["k1"], ["k2"]]);
    held.open();
    const outcome = await first;
    expect(await retry).toEqual({ replay: encode(outcome.result!), stored: true });
    expect(store.statements).toEqual([["k1"], ["k2"], ["k1"]]);
    expect(store.overlaps).toEqual([]);
    expect(store.accounts.get("alice")!.posted).toBe(90n);
  });

  it("groups in the database at once share no account: one on a held account waits for a later group", async () => {
    const { store, groups, submit } = setup({ maxConcurrent: 2 });
    const held = holdGroupOf(store, "a1");
    const first = submit("a1", "alice", "bob", 10n);
    await held.reached;
    // Shares bob with the group in the database: it waits although a slot is free.
    const sharing = submit("a2", "mint", "bob", 1n);
    // Shares nothing: it runs at once in the free slot.
    expect((await submit("a3", "mint", "carol", 1n)).result?.amount).toBe(1n);
    expect(groups.queued).toBe(1);
    expect(store.statements).toEqual([["a1"], ["a3"]]);
    held.open();
    await Promise.all([first, sharing]);
    expect(store.statements).toEqual([["a1"], ["a3"], ["a2"]]);
    expect(store.overlaps).toEqual([]);
  });

  it("bounds: past maxQueued waiting transfers a submission is refused OVERLOADED with a retry delay", async () => {
    const { store, groups, submit } = setup({ maxQueued: 2 });
    const held = holdGroupOf(store, "running");
    const running = submit("running", "mint", "bob", 1n);
    await held.reached;
    const queued = [submit("q1", "mint", "bob", 1n), submit("q2", "mint", "bob", 1n)];
    expect(groups.queued).toBe(2);
    const refused = await submit("q3", "mint", "bob", 1n).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DomainError);
    expect(refused).toMatchObject({ reason: ErrorReason.OVERLOADED, category: "UNAVAILABLE" });
    expect((refused as DomainError).options.retryAfterMs).toBeGreaterThan(0);
    held.open();
    await Promise.all([running, ...queued]);
    expect(store.statements.flat()).toEqual(["running", "q1", "q2"]);
  });

  it("bounds: by default 1024 transfers may wait, and no more", async () => {
    const { store, groups, submit } = setup({ maxSize: 2, maxConcurrent: 1 });
    const held = holdGroupOf(store, "running");
    const running = submit("running", "mint", "bob", 1n);
    await held.reached;
    const queued = Array.from({ length: 1024 }, (_, i) => submit(`q${i}`, "mint", "bob", 1n));
    expect(groups.queued).toBe(1024);
    await expect(submit("one-too-many", "mint", "bob", 1n)).rejects.toMatchObject({ reason: ErrorReason.OVERLOADED });
    held.open();
    await Promise.all([running, ...queued]);
  });

  it("cancellation: a transfer whose caller left while it queued leaves the queue at once and never reaches the store", async () => {
    const { store, groups, submit } = setup();
    const gone = new AbortController();
    const reason = new Error("the caller is gone");
    const leftEarly = new AbortController();
    leftEarly.abort(new Error("gone before submitting"));
    await expect(submit("early", "alice", "bob", 1n, leftEarly.signal)).rejects.toBe(leftEarly.signal.reason);

    const held = holdGroupOf(store, "running");
    const running = submit("running", "mint", "bob", 1n);
    await held.reached;
    const dropped = submit("dropped", "alice", "bob", 10n, gone.signal).catch((e: unknown) => e);
    const other = submit("other", "alice", "bob", 20n);
    expect(groups.queued).toBe(2);
    gone.abort(reason);
    // Its place is freed before the running group ends.
    expect(groups.queued).toBe(1);
    expect(await dropped).toBe(reason);
    held.open();
    await running;
    expect((await other).result?.amount).toBe(20n);
    expect(store.statements).toEqual([["running"], ["other"]]);
    expect(store.keys.has("dropped")).toBe(false);
  });

  it("cancellation: a transfer already in the database is decided and stored; its caller's retry replays that outcome", async () => {
    const { store, submit } = setup();
    const leaving = new AbortController();
    const held = holdGroupOf(store, "sent");
    const sent = submit("sent", "alice", "bob", 10n, leaving.signal);
    await held.reached;
    leaving.abort(new Error("left while its statement ran"));
    held.open();
    // The statement was sent: its outcome is final, whoever still listens.
    const outcome = await sent;
    expect(outcome.result?.amount).toBe(10n);
    expect(store.keys.get("sent")?.outcome.kind).toBe("result");
    expect(await submit("sent", "alice", "bob", 10n)).toEqual({ replay: encode(outcome.result!), stored: true });
    expect(store.accounts.get("alice")!.posted).toBe(90n);
  });

  it.each([
    ["UNAVAILABLE", new DomainError(ErrorReason.UNAVAILABLE, "the database is not reachable")],
    ["DATABASE_TIMEOUT", new DomainError(ErrorReason.DATABASE_TIMEOUT, "the database did not answer in time")],
    ["RETRIES_EXHAUSTED", new DomainError(ErrorReason.RETRIES_EXHAUSTED, "conflicts persisted")],
  ])("fallback: a group failing for the infrastructure (%s) fails as a whole, without one-by-one retries", async (_name, failure) => {
    const { store, submit, single } = setup();
    const held = holdGroupOf(store, "running");
    const running = submit("running", "mint", "carol", 1n);
    await held.reached;
    store.hooks.post = (keys) => {
      if (keys.includes("a")) throw failure;
    };
    const outcomes = [submit("a", "alice", "bob", 1n), submit("b", "mint", "bob", 2n)].map((p) => p.catch((e: unknown) => e));
    held.open();
    await running;
    expect(await Promise.all(outcomes)).toEqual([failure, failure]);
    expect((await outcomes[0]) === failure).toBe(true);
    expect(store.statements).toEqual([["running"], ["a", "b"]]);
    expect(single).not.toHaveBeenCalled();
    expect([store.keys.has("a"), store.keys.has("b")]).toEqual([false, false]);
  });

  it.each([
    ["a constraint the database raised", new Error('new row for relation "accounts" violates check constraint')],
    ["a request's own refusal", new DomainError(ErrorReason.INSUFFICIENT_FUNDS, "account alice has insufficient funds")],
  ])("fallback: a group failing for %s is re-run one by one through the single path", async (_name, failure) => {
    const single = vi.fn(async (c: TransferCommand, _i: Idempotency<Transfer>): Promise<Outcome<Transfer>> => ({ replay: Buffer.from(`alone ${c.idempotencyKey}`) }));
    const { store, submit } = setup({}, single);
    const held = holdGroupOf(store, "running");
    const running = submit("running", "mint", "carol", 1n);
    await held.reached;
    store.hooks.post = (keys) => {
      if (keys.includes("a")) throw failure;
    };
    const outcomes = Promise.all([submit("a", "alice", "bob", 1n), submit("b", "mint", "bob", 2n)]);
    held.open();
    await running;
    expect((await outcomes).map((o) => text(o.replay))).toEqual(["alone a", "alone b"]);
    expect(single.mock.calls.map(([c, i]) => [c.idempotencyKey, i.claim.key])).toEqual([
      ["a", "a"],
      ["b", "b"],
    ]);
    expect([store.keys.has("a"), store.keys.has("b")]).toEqual([false, false]);
  });

  it("fallback: a lone transfer's failure is its own; it is not re-run", async () => {
    const { store, submit, single } = setup();
    const failure = new Error("constraint");
    store.hooks.post = () => {
      throw failure;
    };
    await expect(submit("alone", "alice", "bob", 1n)).rejects.toBe(failure);
    expect(single).not.toHaveBeenCalled();
  });
});
