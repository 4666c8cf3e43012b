/**
 * Group commit for Transfer: concurrent transfers share one database
 * transaction. Per transaction the fixed costs (BEGIN, COMMIT, a round trip
 * per statement, the ORM's per-statement work) are paid once for the group
 * instead of once per transfer, and the write stays set-shaped:
 *
 *   BEGIN · claim all keys + lock all accounts (ORDER BY id) · post each
 *   transfer in order in memory · write all + complete/release keys · COMMIT
 *
 * Each transfer keeps its own outcome: one that fails its checks (funds,
 * status, currency, a reused key) is left out of the write and its key is
 * released; the others commit. Groups form naturally: while one group is in
 * the database, new requests queue for the next. A key is never in two
 * groups at once (a retry waits for the group holding its key), so two
 * groups cannot deadlock on keys; accounts are locked in id order.
 * If a whole group fails unexpectedly, its transfers are run one by one, so
 * one bad request cannot fail its neighbours.
 */
import { uuidv7 } from "../../lib/ids.js";
import { DomainError } from "../errors.js";
import { entryOf, type AuditEntry } from "../audit/types.js";
import { transferAudit, type Idempotency, type Outcome, type TransferCommand } from "./ledger.js";
import { emptyWriteSet, type IdempotencyClaim, type LedgerStore } from "./ports.js";
import { PostingSession } from "./posting.js";
import type { Transfer } from "./types.js";

export interface GroupCommitOptions {
  /** Most transfers in one transaction. Default 64 (one client's typical in-flight window). */
  maxSize: number;
  /** Groups in the database at once. Default 2: one being written while the next forms. */
  maxConcurrent: number;
}

interface Pending {
  cmd: TransferCommand;
  idem: Idempotency<Transfer>;
  keyId: string;
  resolve: (outcome: Outcome<Transfer>) => void;
  reject: (error: unknown) => void;
}

type Result = { outcome: Outcome<Transfer> } | { error: unknown };

const keyIdOf = (claim: IdempotencyClaim) => `${claim.scope}\u0000${claim.key}`;

export class TransferGroups {
  private readonly queue: Pending[] = [];
  private readonly keysInFlight = new Set<string>();
  private running = 0;

  constructor(
    private readonly store: LedgerStore,
    private readonly options: GroupCommitOptions,
    /** The one-transfer path, for the fallback. */
    private readonly single: (cmd: TransferCommand, idem: Idempotency<Transfer>) => Promise<Outcome<Transfer>>,
  ) {}

  submit(cmd: TransferCommand, idem: Idempotency<Transfer>): Promise<Outcome<Transfer>> {
    return new Promise((resolve, reject) => {
      this.queue.push({ cmd, idem, keyId: keyIdOf(idem.claim), resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.options.maxConcurrent && this.queue.length > 0) {
      const group: Pending[] = [];
      const keys = new Set<string>();
      for (let i = 0; i < this.queue.length && group.length < this.options.maxSize; ) {
        const p = this.queue[i]!;
        if (this.keysInFlight.has(p.keyId) || keys.has(p.keyId)) {
          i++; // its key is busy: it waits for a later group
          continue;
        }
        keys.add(p.keyId);
        group.push(p);
        this.queue.splice(i, 1);
      }
      if (group.length === 0) return;
      for (const k of keys) this.keysInFlight.add(k);
      this.running++;
      void this.run(group).finally(() => {
        for (const k of keys) this.keysInFlight.delete(k);
        this.running--;
        this.pump();
      });
    }
  }

  private async run(group: Pending[]): Promise<void> {
    let results: Result[];
    try {
      results = await this.commit(group);
    } catch (error) {
      if (group.length === 1) {
        results = [{ error }];
      } else {
        // Isolate whatever broke the group: each transfer on its own.
        results = await Promise.all(
          group.map((p) => this.single(p.cmd, p.idem).then((outcome): Result => ({ outcome }), (e: unknown): Result => ({ error: e }))),
        );
      }
    }
    group.forEach((p, i) => {
      const r = results[i]!;
      if ("error" in r) p.reject(r.error);
      else p.resolve(r.outcome);
    });
  }

  private commit(group: Pending[]): Promise<Result[]> {
    return this.store.transaction(async (tx) => {
      const claims = group.map((p) => p.idem.claim);
      const { claimed, accounts } = await tx.claimManyAndLockAccounts(
        claims,
        group.flatMap((p) => [p.cmd.debitAccountId, p.cmd.creditAccountId]),
      );
      const results: Result[] = new Array(group.length);
      const transfers: Transfer[] = [];
      const audit: AuditEntry[] = [];
      const completions: { claim: IdempotencyClaim; response: Uint8Array }[] = [];
      const released: IdempotencyClaim[] = [];
      let session: PostingSession | undefined;
      for (const [i, p] of group.entries()) {
        const now = claimed(p.idem.claim);
        if (now === null) {
          // Taken before: the stored reply, or "reused with another request".
          try {
            const stored = await tx.replay(p.idem.claim);
            if (stored.kind !== "replay") throw new Error("assertion failed: a taken key replayed as new");
            results[i] = { outcome: { replay: stored.response } };
          } catch (error) {
            if (!(error instanceof DomainError)) throw error;
            results[i] = { error };
          }
          continue;
        }
        session ??= new PostingSession(accounts, now);
        try {
          const transfer = session.post(
            p.cmd,
            { id: uuidv7(now.getTime()), kind: "TRANSFER", idempotencyKey: p.cmd.idempotencyKey, batchId: null, reversesId: null, holdId: null },
            (field) => field,
          );
          transfers.push(transfer);
          audit.push(entryOf(transferAudit(transfer), p.idem.context, now, p.idem.claim.key));
          completions.push({ claim: p.idem.claim, response: p.idem.encode(transfer) });
          results[i] = { outcome: { result: transfer } };
        } catch (error) {
          if (!(error instanceof DomainError)) throw error;
          released.push(p.idem.claim);
          results[i] = { error };
        }
      }
      if (completions.length > 0 || released.length > 0) {
        await tx.writeGroup(
          { ...emptyWriteSet(), accounts: session?.changedAccounts() ?? [], transfers, entries: session?.entries ?? [], audit },
          completions,
          released,
        );
      }
      return results;
    });
  }
}
