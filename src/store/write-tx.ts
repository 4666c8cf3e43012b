/**
 * One write transaction's side, shared by every store (ledger, identity,
 * audit): it claims idempotency keys, writes a change set (rows, audit
 * events, replies under keys) in one statement, and remembers what the
 * change makes stale (cache tags) and what it gives the background jobs.
 */
import { DomainError, ErrorReason } from "../domain/errors.js";
import type { ClaimOutcome, Completion, IdempotencyClaim, StoredOutcome } from "../domain/idempotency.js";
import type { KeyedTx } from "../domain/keyed.js";
import { emptyWriteSet, type WriteSet } from "../domain/ledger/ports.js";
import type { Account, AccountStatus } from "../domain/ledger/types.js";
import { staleTags } from "./cache-policy.js";
import { writePayload } from "./ledger-rows.js";
import { WRITE_SQL } from "./ledger-sql.js";
import { storedOfJson } from "./transfer-statement.js";
import type { CommitFacts, TxClient } from "./transaction.js";

/** The shared statement's rows beyond the ledger's: stored replies to scrub (erasure). */
export interface StoreWriteSet extends WriteSet {
  /** Every stored reply carrying `userId`'s personal data becomes `response` (the erased user). */
  scrubReplies?: { userId: string; response: Uint8Array }[];
}

const base64 = (bytes: Uint8Array | undefined) => (bytes === undefined ? null : Buffer.from(bytes).toString("base64"));

export class PrismaWriteTx implements KeyedTx {
  /** Cache tags this transaction's writes make stale; invalidated once it commits. */
  readonly staleTags = new Set<string>();
  /** Each locked account's status as locked, to tell which writes change a status. */
  private readonly lockedStatus = new Map<string, AccountStatus>();
  private readonly written: CommitFacts = { auditEvents: 0, earliestHoldExpiry: null };

  constructor(protected readonly tx: TxClient) {}

  /** What this transaction wrote, for the background jobs once it has committed. */
  commitFacts(): CommitFacts {
    return { ...this.written };
  }

  /** Notes the status of accounts as locked (to know later which writes change a status). */
  protected remember(accounts: Map<string, Account>): Map<string, Account> {
    for (const [id, account] of accounts) if (!this.lockedStatus.has(id)) this.lockedStatus.set(id, account.status);
    return accounts;
  }

  async claim(claim: IdempotencyClaim): Promise<ClaimOutcome> {
    // ON CONFLICT waits for a concurrent holder of the key to commit or roll back.
    const inserted = await this.tx.$queryRawUnsafe<{ created_at: Date }[]>(
      "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING created_at",
      claim.scope,
      claim.key,
      claim.requestHash,
    );
    return inserted.length === 1 ? { kind: "new", now: inserted[0]!.created_at } : this.replay(claim);
  }

  /** The stored outcome of a taken key, or IDEMPOTENCY_KEY_REUSED when the request differs. */
  async replay(claim: IdempotencyClaim): Promise<StoredOutcome> {
    // A new statement, so a new snapshot: it sees the holder's commit.
    const [existing] = await this.tx.$queryRawUnsafe<
      { request_hash: Uint8Array; response: Uint8Array | null; refusal: Uint8Array | null; outcome: Parameters<typeof storedOfJson>[0] | null }[]
    >(
      "SELECT request_hash, response, refusal, outcome FROM idempotency_keys WHERE scope = $1 AND key = $2",
      claim.scope,
      claim.key,
    );
    if (!existing) throw new Error("assertion failed: a taken idempotency key is not there");
    if (!Buffer.from(existing.request_hash).equals(Buffer.from(claim.requestHash))) {
      throw new DomainError(ErrorReason.IDEMPOTENCY_KEY_REUSED, "idempotency_key was already used for a different request", "idempotency_key");
    }
    if (existing.response !== null) return { kind: "replay", response: existing.response };
    if (existing.refusal !== null) return { kind: "refused", refusal: existing.refusal };
    if (existing.outcome !== null) return storedOfJson(existing.outcome);
    throw new Error("assertion failed: a committed idempotency key has no outcome");
  }

  /** Stores a refusal under the claimed key, writing nothing else. */
  refuse(completion: Completion): Promise<void> {
    return this.write(emptyWriteSet(), completion);
  }

  write(set: StoreWriteSet, completion?: Completion): Promise<void> {
    return this.writeGroup(set, completion ? [completion] : [], []);
  }

  /** The set, the outcome of every decided key, and the release of undecided ones, in one statement. */
  async writeGroup(set: StoreWriteSet, completions: Completion[], released: IdempotencyClaim[]): Promise<void> {
    for (const { state } of set.accounts) {
      if (state.status !== this.lockedStatus.get(state.id)) for (const tag of staleTags.accountStatus(state.id)) this.staleTags.add(tag);
    }
    for (const r of set.reversals) for (const tag of staleTags.transferReversed(r.transferId)) this.staleTags.add(tag);
    this.written.auditEvents += set.audit.length;
    for (const hold of set.holds) {
      const due = this.written.earliestHoldExpiry;
      if (hold.status === "PENDING" && (due === null || hold.expiresAt < due)) this.written.earliestHoldExpiry = hold.expiresAt;
    }
    for (const c of completions) {
      if ((c.response === undefined) === (c.refusal === undefined)) throw new Error("assertion failed: a key's outcome is a reply or a refusal");
    }
    const scrubs = set.scrubReplies ?? [];
    const payload = {
      ...writePayload(set),
      completions: completions.map((c) => ({
        scope: c.claim.scope,
        key: c.claim.key,
        response: base64(c.response),
        refusal: base64(c.refusal),
        user_id: c.userId ?? null,
      })),
      released: released.map((c) => ({ scope: c.scope, key: c.key })),
      scrubs: scrubs.map((s) => ({ user_id: s.userId, response: base64(s.response) })),
    };
    const keys = [...completions.map((c) => c.claim), ...released];
    const [counts] = await this.tx.$queryRawUnsafe<{ accounts: number; keys: number }[]>(
      WRITE_SQL,
      JSON.stringify(payload, (_key, value) => (typeof value === "bigint" ? value.toString() : value)),
      set.accounts.map((a) => a.state.id),
      set.reversals.map((r) => r.transferId),
      [...new Set(keys.map((k) => k.scope))],
      keys.map((k) => k.key),
      scrubs.map((s) => s.userId),
    );
    // Under the row locks nothing can have moved; if it did, roll back loudly.
    if (counts!.accounts !== set.accounts.length) {
      throw new Error(`assertion failed: ${counts!.accounts} of ${set.accounts.length} account updates applied`);
    }
    if (counts!.keys !== completions.length) throw new Error("assertion failed: not every idempotency key was completed");
  }
}
