/**
 * The shape of every ledger mutation (keyed.ts): one store transaction that
 * claims the client's idempotency key, does the work on what it locked, and
 * writes the outcome (the change, its audit events and the reply under the
 * key) as one statement; or stores the refusal under the key.
 */
import type { AuditRecord } from "../audit/types.js";
import { entryOf } from "../audit/types.js";
import { throwIfGone } from "../call.js";
import { checkIdempotencyKey, outcomeOf, type Idempotency, type Outcome } from "../idempotency.js";
import { runKeyed } from "../keyed.js";
import type { LedgerStore, LedgerTx, WriteSet } from "./ports.js";
import type { Account } from "./types.js";

/** A unit of work's outcome: the reply, what to write, and what to record in the audit log. */
export interface Work<R> {
  result: R;
  writes: WriteSet;
  audit: AuditRecord[];
}

export class Mutations {
  constructor(private readonly store: LedgerStore) {}

  /** Claims the key, runs `work` and writes its set with the encoded reply, all in one transaction. */
  run<R>(idem: Idempotency<R>, work: (tx: LedgerTx, now: Date) => Promise<Work<R>>): Promise<Outcome<R>> {
    checkIdempotencyKey(idem.claim.key);
    return runKeyed(this.store, idem, async (tx) => {
      const claimed = await tx.claim(idem.claim);
      if (claimed.kind !== "new") return outcomeOf(claimed, idem);
      return this.finish(tx, idem, claimed.now, await work(tx, claimed.now));
    });
  }

  /**
   * `run` for work whose accounts are known up front (transfers, batches,
   * holds): the key is claimed and the accounts locked in one round trip.
   */
  runOnAccounts<R>(idem: Idempotency<R>, accountIds: string[], work: (locked: Map<string, Account>, now: Date) => Work<R>): Promise<Outcome<R>> {
    checkIdempotencyKey(idem.claim.key);
    return runKeyed(this.store, idem, async (tx) => {
      const { outcome, accounts } = await tx.claimAndLockAccounts(idem.claim, accountIds);
      if (outcome.kind !== "new") return outcomeOf(outcome, idem);
      return this.finish(tx, idem, outcome.now, work(accounts, outcome.now));
    });
  }

  private async finish<R>(tx: LedgerTx, idem: Idempotency<R>, now: Date, { result, writes, audit }: Work<R>): Promise<Outcome<R>> {
    writes.audit = audit.map((r) => entryOf(r, idem.context, now, idem.claim.key));
    // The last statement before COMMIT: a caller who has gone gets nothing committed.
    throwIfGone(idem.context);
    await tx.write(writes, { claim: idem.claim, response: idem.encode(result) });
    return { result };
  }
}
