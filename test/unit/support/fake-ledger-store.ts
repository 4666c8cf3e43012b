/**
 * An in-memory LedgerStore for the group-commit tests: the port
 * (src/domain/ledger/ports.ts) with the semantics group commit relies on,
 * and a record of what reached it.
 *
 * - `postTransfers` is one atomic step, as the SQL function is: every key is
 *   claimed, the members are posted in order with the domain's own rules
 *   (PostingSession), and each one's outcome is stored under its key; a
 *   throw leaves the store as it was.
 * - A key sent while an earlier statement still holds it (PostgreSQL would
 *   make the second wait) is recorded in `overlaps`, which group commit must
 *   keep empty; so is an account two statements in flight share.
 * - Hooks let a test hold a statement in the database (to queue others
 *   behind it) or fail it.
 */
import { DomainError } from "../../../src/domain/errors.js";
import type { IdempotencyClaim, StoredOutcome } from "../../../src/domain/idempotency.js";
import type { LedgerStore, MemberOutcome, TransferMember } from "../../../src/domain/ledger/ports.js";
import { PostingSession } from "../../../src/domain/ledger/posting.js";
import type { Account, Transfer } from "../../../src/domain/ledger/types.js";

const NOW = new Date("2026-12-01T12:00:00.000Z");

export interface FakeHooks {
  /** Awaited when a statement reaches the database, before anything is claimed (hold a group there). */
  beforePost?(keys: string[]): Promise<void> | void;
  /** Called with a statement's keys before it posts; throw to fail the statement (nothing is stored). */
  post?(keys: string[]): void;
}

interface StoredKey {
  requestHash: string;
  outcome: StoredOutcome;
}

const hashOf = (claim: IdempotencyClaim) => Buffer.from(claim.requestHash).toString("hex");
const notUsed = (what: string) => (): never => {
  throw new Error(`the fake store does not implement ${what}: group commit should not call it`);
};

export class FakeLedgerStore implements LedgerStore {
  readonly accounts = new Map<string, Account>();
  /** Decided keys: their stored outcome. */
  readonly keys = new Map<string, StoredKey>();
  /** Committed statements, in commit order: their keys and the transfers they posted. */
  readonly writes: { keys: string[]; transfers: Transfer[] }[] = [];
  /** The keys of every statement, in the order they reached the store, committed or not. */
  readonly statements: string[][] = [];
  /** Keys or accounts sent while another statement in flight held them. */
  readonly overlaps: string[] = [];
  hooks: FakeHooks = {};
  private readonly held = new Set<string>();

  account(id: string, posted: bigint, minBalance: bigint | null = 0n): void {
    this.accounts.set(id, {
      id,
      owner: minBalance === null ? { type: "SYSTEM", id: "issuance" } : { type: "USER", id: `user-${id}` },
      ownerStatus: minBalance === null ? null : "ACTIVE",
      currency: "USD",
      status: "ACTIVE",
      minBalance,
      posted,
      pendingDebit: 0n,
      pendingCredit: 0n,
      version: 1n,
      label: id,
      isDefault: false,
      createdAt: NOW,
      updatedAt: NOW,
    });
  }

  async postTransfers(_scope: string, members: TransferMember[]): Promise<MemberOutcome[]> {
    const keys = members.map((m) => m.claim.key);
    const mine = [...keys.map((k) => `key:${k}`), ...members.flatMap((m) => [`account:${m.leg.debitAccountId}`, `account:${m.leg.creditAccountId}`])];
    const taken = [...new Set(mine)];
    for (const h of taken) if (this.held.has(h)) this.overlaps.push(h);
    for (const h of taken) this.held.add(h);
    this.statements.push(keys);
    try {
      await this.hooks.beforePost?.(keys);
      this.hooks.post?.(keys);
      return this.post(members);
    } finally {
      for (const h of taken) this.held.delete(h);
    }
  }

  /** The statement's body, atomic: outcomes are computed on copies and applied only at the end. */
  private post(members: TransferMember[]): MemberOutcome[] {
    const locked = new Map<string, Account>();
    for (const m of members) {
      for (const id of [m.leg.debitAccountId, m.leg.creditAccountId]) {
        const account = this.accounts.get(id);
        if (account) locked.set(id, { ...account });
      }
    }
    const session = new PostingSession(locked, NOW);
    const outcomes: MemberOutcome[] = [];
    const stored = new Map<string, StoredKey>();
    const transfers: Transfer[] = [];
    for (const m of members) {
      const before = this.keys.get(m.claim.key) ?? stored.get(m.claim.key);
      if (before) {
        outcomes.push(before.requestHash === hashOf(m.claim) ? { kind: "stored", stored: before.outcome } : { kind: "reused" });
        continue;
      }
      try {
        const transfer = session.post(
          { ...m.leg, currency: "", memo: "" },
          { id: m.id, kind: "TRANSFER", idempotencyKey: m.claim.key, batchId: null, reversesId: null, holdId: null },
          (field) => field,
          {},
          {},
        );
        transfers.push(transfer);
        outcomes.push({ kind: "new", transfer });
        stored.set(m.claim.key, { requestHash: hashOf(m.claim), outcome: { kind: "result", result: transfer } });
      } catch (error) {
        if (!(error instanceof DomainError) || error.category === "UNAVAILABLE") throw error;
        outcomes.push({ kind: "refused", error });
        stored.set(m.claim.key, { requestHash: hashOf(m.claim), outcome: { kind: "error", error } });
      }
    }
    for (const { state } of session.changedAccounts()) this.accounts.set(state.id, { ...this.accounts.get(state.id)!, ...state });
    for (const [key, value] of stored) this.keys.set(key, value);
    this.writes.push({ keys: members.map((m) => m.claim.key), transfers });
    return outcomes;
  }

  transaction = notUsed("transaction");
  findAccount = notUsed("findAccount");
  findBalance = notUsed("findBalance");
  listAccounts = notUsed("listAccounts");
  findTransfer = notUsed("findTransfer");
  findTransfers = notUsed("findTransfers");
  findHold = notUsed("findHold");
  listEntries = notUsed("listEntries");
  nextHoldExpiry = notUsed("nextHoldExpiry");
  purgeIdempotencyKeys = notUsed("purgeIdempotencyKeys");
  lastEntryAsOf = notUsed("lastEntryAsOf");
}
