/**
 * Properties of the ledger's arithmetic (PostingSession), over random
 * sequences of transfers, holds and releases on a few accounts with random
 * balances and policies. Each step is checked against a model written here
 * from the rules (README "The ledger"): the session must agree with it on
 * every balance and on every refusal, and keep the invariants below.
 *
 * The seed is printed; `PROPERTY_SEED=<seed> npm run test:unit` replays a run.
 */
import { describe, expect, it } from "vitest";
import { DomainError } from "../../../src/domain/errors.js";
import { INT64_MAX, INT64_MIN } from "../../../src/domain/ledger/money.js";
import { PostingSession, type Leg } from "../../../src/domain/ledger/posting.js";
import type { Account } from "../../../src/domain/ledger/types.js";
import { Prng, propertySeed } from "../support/prng.js";

const SEQUENCES = 250;
const STEPS_PER_SEQUENCE = 40;
const NOW = new Date("2026-12-01T12:00:00.000Z");

/** What the model keeps of an account. */
interface Model {
  id: string;
  minBalance: bigint | null;
  posted: bigint;
  pendingDebit: bigint;
  pendingCredit: bigint;
  version: bigint;
}

type Refusal = "INSUFFICIENT_FUNDS" | "AMOUNT_OVERFLOW";
const outOfRange = (v: bigint) => v > INT64_MAX || v < INT64_MIN;
const belowFloor = (m: Model, amount: bigint) => m.minBalance !== null && m.posted - m.pendingDebit - amount < m.minBalance;

/** The rules, from the documentation: the floor first, then int64. */
function modelTransfer(d: Model, c: Model, amount: bigint): Refusal | null {
  if (belowFloor(d, amount)) return "INSUFFICIENT_FUNDS";
  if (outOfRange(d.posted - amount) || outOfRange(c.posted + amount) || outOfRange(d.posted - amount - d.pendingDebit)) return "AMOUNT_OVERFLOW";
  d.posted -= amount;
  c.posted += amount;
  d.version += 1n;
  c.version += 1n;
  return null;
}

function modelReserve(d: Model, c: Model, amount: bigint): Refusal | null {
  if (belowFloor(d, amount)) return "INSUFFICIENT_FUNDS";
  if (outOfRange(d.pendingDebit + amount) || outOfRange(c.pendingCredit + amount) || outOfRange(d.posted - d.pendingDebit - amount)) return "AMOUNT_OVERFLOW";
  d.pendingDebit += amount;
  c.pendingCredit += amount;
  return null;
}

/** One account of a random profile: ordinary users, overdrafts, unbounded system accounts, and balances at int64's edges. */
function randomAccount(rng: Prng, id: string): Account {
  const small = () => rng.bits(rng.pick([10, 20, 40]));
  let minBalance: bigint | null;
  let posted: bigint;
  switch (rng.int(5)) {
    case 0: // a user: never below zero
      minBalance = 0n;
      posted = small();
      break;
    case 1: // an overdraft
      minBalance = -small();
      posted = minBalance + small();
      break;
    case 2: // a system account: unbounded, any balance
      minBalance = null;
      posted = rng.bits(64) + INT64_MIN;
      break;
    case 3: // near the top of int64
      minBalance = rng.chance(0.5) ? 0n : null;
      posted = INT64_MAX - small();
      break;
    default: // an unbounded account near the bottom of int64
      minBalance = null;
      posted = INT64_MIN + small();
  }
  // Pending debits leave the account within its floor and its available balance within int64.
  const headroom = minBalance === null ? (posted - INT64_MIN < 1n << 40n ? posted - INT64_MIN : 1n << 40n) : posted - minBalance;
  const pendingDebit = rng.chance(0.3) && headroom > 0n ? rng.bits(40) % (headroom + 1n) : 0n;
  const system = minBalance === null;
  return {
    id,
    owner: system ? { type: "SYSTEM", id: "treasury" } : { type: "USER", id: `user-${id}` },
    ownerStatus: system ? null : "ACTIVE",
    currency: "USD",
    status: "ACTIVE",
    minBalance,
    posted,
    pendingDebit,
    pendingCredit: rng.chance(0.3) ? rng.bits(40) : 0n,
    version: BigInt(rng.int(1000)),
    label: id,
    isDefault: false,
    createdAt: NOW,
    updatedAt: NOW,
  };
}

/** Amounts: mostly ordinary, some huge, some exactly at the debit's floor (and one past it). */
function randomAmount(rng: Prng, debit: Model): bigint {
  const roll = rng.int(20);
  if (roll < 2 && debit.minBalance !== null) {
    const toFloor = debit.posted - debit.pendingDebit - debit.minBalance;
    const amount = toFloor + (roll === 0 ? 0n : 1n);
    if (amount > 0n) return amount;
  }
  if (roll < 12) return 1n + rng.bits(10);
  if (roll < 16) return 1n + rng.bits(32);
  return (1n << 60n) + rng.bits(63) % (INT64_MAX - (1n << 60n));
}

const json = (value: unknown) => JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${v}n` : v));

/** Everything a refused posting must leave as it was (entries are only appended: their count and the last two stand for them). */
function snapshot(session: PostingSession, ids: string[]): string {
  const parts = [String(session.entries.length)];
  for (const e of session.entries.slice(-2)) parts.push(`${e.transferId} ${e.accountId} ${e.amount} ${e.balanceAfter} ${e.accountVersion}`);
  for (const { state: a, fromVersion } of session.changedAccounts()) parts.push(`${a.id} from ${fromVersion}: ${a.posted} ${a.pendingDebit} ${a.pendingCredit} ${a.version} ${a.status}`);
  for (const id of ids) {
    const a = session.view(id);
    parts.push(`${id}: ${a.posted} ${a.pendingDebit} ${a.pendingCredit} ${a.version} ${a.status}`);
  }
  return parts.join("\n");
}

/** `expect(actual).toEqual(expected)` for the hot loop, where vitest's matchers would cost most of the run. */
function same(actual: unknown, expected: unknown, where: string): void {
  const a = json(actual);
  const e = json(expected);
  if (a !== e) expect(a, where).toBe(e);
}

const leg = (debit: string, credit: string, amount: bigint): Leg => ({ debitAccountId: debit, creditAccountId: credit, amount, currency: "", memo: "" });
const name = (field: string) => field;

describe("PostingSession, on random sequences", () => {
  it("keeps every transfer balanced, the total unchanged, every floor, one version per entry, and refuses without a trace", () => {
    const seed = propertySeed();
    console.info(`posting properties: seed ${seed} (PROPERTY_SEED=${seed} replays it)`);
    const rng = new Prng(seed);
    const tally = { transfers: 0, holds: 0, releases: 0, INSUFFICIENT_FUNDS: 0, AMOUNT_OVERFLOW: 0 };

    for (let sequence = 0; sequence < SEQUENCES; sequence++) {
      const ids = Array.from({ length: 3 + rng.int(3) }, (_, i) => `acct-${i}`);
      const accounts = ids.map((id) => randomAccount(rng, id));
      const locked = new Map(accounts.map((a) => [a.id, a]));
      const model = new Map<string, Model>(accounts.map((a) => [a.id, { ...a }]));
      const initialVersion = new Map(accounts.map((a) => [a.id, a.version]));
      const total = accounts.reduce((sum, a) => sum + a.posted, 0n);
      const session = new PostingSession(locked, NOW);
      const holds: { debitAccountId: string; creditAccountId: string; amount: bigint }[] = [];

      for (let step = 0; step < STEPS_PER_SEQUENCE; step++) {
        const where = `seed ${seed}, sequence ${sequence}, step ${step}`;
        const op = holds.length > 0 && rng.chance(0.2) ? "release" : rng.chance(0.7) ? "transfer" : "hold";
        if (op === "release") {
          const hold = holds.splice(rng.int(holds.length), 1)[0]!;
          session.release(hold);
          model.get(hold.debitAccountId)!.pendingDebit -= hold.amount;
          model.get(hold.creditAccountId)!.pendingCredit -= hold.amount;
          tally.releases++;
        } else {
          const debitId = rng.pick(ids);
          const creditId = rng.pick(ids.filter((id) => id !== debitId));
          const d = model.get(debitId)!;
          const c = model.get(creditId)!;
          const amount = randomAmount(rng, d);
          const before = snapshot(session, ids);
          const entriesBefore = session.entries.length;
          const expected = op === "transfer" ? modelTransfer(d, c, amount) : modelReserve(d, c, amount);
          let refused: string | null = null;
          try {
            if (op === "transfer") {
              const transfer = session.post(
                leg(debitId, creditId, amount),
                { id: `t-${sequence}-${step}`, kind: "TRANSFER", idempotencyKey: null, batchId: null, reversesId: null, holdId: null },
                name,
              );
              const added = session.entries.slice(entriesBefore);
              const [out, into] = added;
              if (added.length !== 2 || out!.amount + into!.amount !== 0n) expect.fail(`${where}: the transfer's entries do not sum to zero: ${json(added)}`);
              same(
                added.map((e) => [e.transferId, e.accountId, e.amount, e.balanceAfter, e.accountVersion]),
                [
                  [transfer.id, debitId, -amount, d.posted, d.version],
                  [transfer.id, creditId, amount, c.posted, c.version],
                ],
                where,
              );
            } else {
              session.reserve(leg(debitId, creditId, amount), name);
              same(session.entries.length, entriesBefore, `${where}: a hold wrote entries`);
              holds.push({ debitAccountId: debitId, creditAccountId: creditId, amount });
            }
          } catch (error) {
            if (!(error instanceof DomainError)) throw error;
            refused = error.reason;
            same(error.field, "amount", where);
          }
          same(refused, expected, `${where}: ${op} of ${amount} from ${json(d)}`);
          if (refused !== null) {
            tally[refused as Refusal]++;
            same(snapshot(session, ids), before, `${where}: a refused ${op} changed the session`);
            continue;
          }
          tally[op === "transfer" ? "transfers" : "holds"]++;
        }

        // After every step: the session agrees with the model, and the invariants hold.
        for (const id of ids) {
          const view = session.view(id);
          const m = model.get(id)!;
          if (view.posted !== m.posted || view.pendingDebit !== m.pendingDebit || view.pendingCredit !== m.pendingCredit || view.version !== m.version) {
            same([view.posted, view.pendingDebit, view.pendingCredit, view.version], [m.posted, m.pendingDebit, m.pendingCredit, m.version], `${where}: ${id}`);
          }
          if (view.minBalance !== null && view.posted - view.pendingDebit < view.minBalance) expect.fail(`${where}: ${id} below its floor`);
        }
        const sum = ids.reduce((s, id) => s + session.view(id).posted, 0n);
        if (sum !== total) expect.fail(`${where}: the total of posted balances moved from ${total} to ${sum}`);
      }

      // Versions: each account's entries carry consecutive versions from the locked one, and end where the account does.
      for (const id of ids) {
        const versions = session.entries.filter((e) => e.accountId === id).map((e) => e.accountVersion);
        const start = initialVersion.get(id)!;
        same(versions, versions.map((_, i) => start + BigInt(i) + 1n), `seed ${seed}, sequence ${sequence}: ${id}`);
        same(session.view(id).version, start + BigInt(versions.length), `seed ${seed}, sequence ${sequence}: ${id}`);
      }
    }

    // The run met every case, so none of the checks above was vacuous.
    console.info(`posting properties: ${json(tally)}`);
    for (const [kind, count] of Object.entries(tally)) expect(count, `seed ${seed}: no ${kind} in the run`).toBeGreaterThan(0);
  });
});

describe("PostingSession at int64's edge", () => {
  const account = (id: string, posted: bigint, minBalance: bigint | null, pending: { debit?: bigint; credit?: bigint } = {}): Account => ({
    id,
    owner: { type: "SYSTEM", id: "treasury" },
    ownerStatus: null,
    currency: "USD",
    status: "ACTIVE",
    minBalance,
    posted,
    pendingDebit: pending.debit ?? 0n,
    pendingCredit: pending.credit ?? 0n,
    version: 7n,
    label: id,
    isDefault: false,
    createdAt: NOW,
    updatedAt: NOW,
  });
  const record = { id: "t", kind: "TRANSFER" as const, idempotencyKey: null, batchId: null, reversesId: null, holdId: null };

  it("refuses a credit past INT64_MAX, a debit past INT64_MIN and pending amounts past int64, changing nothing", () => {
    const locked = new Map([
      ["top", account("top", INT64_MAX - 1n, null, { credit: INT64_MAX })],
      ["bottom", account("bottom", INT64_MIN + 1n, null)],
      ["mid", account("mid", 0n, null)],
    ]);
    const session = new PostingSession(locked, NOW);
    const before = snapshot(session, ["top", "bottom", "mid"]);
    const cases = [
      () => session.post(leg("mid", "top", 2n), record, name),
      () => session.post(leg("bottom", "mid", 2n), record, name),
      () => session.reserve(leg("mid", "top", 1n), name),
      () => session.reserve(leg("bottom", "mid", 2n), name),
    ];
    for (const [i, run] of cases.entries()) {
      expect(run, `case ${i}`).toThrow(expect.objectContaining({ reason: "AMOUNT_OVERFLOW", field: "amount" }));
      expect(snapshot(session, ["top", "bottom", "mid"]), `case ${i}`).toBe(before);
    }
    // Exactly to the edge is fine.
    session.post(leg("mid", "top", 1n), record, name);
    expect(session.view("top").posted).toBe(INT64_MAX);
  });

  it("checks the floor before int64: an uncovered payment that would also overflow is refused for the funds", () => {
    const session = new PostingSession(new Map([["user", account("user", 5n, 0n)], ["top", account("top", INT64_MAX, null)]]), NOW);
    expect(() => session.post(leg("user", "top", 6n), record, name)).toThrow(expect.objectContaining({ reason: "INSUFFICIENT_FUNDS" }));
  });
});
