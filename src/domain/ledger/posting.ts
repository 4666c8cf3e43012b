/**
 * The ledger's arithmetic, pure: given the locked accounts, what each
 * transfer, hold, capture and release does to them. Every rule a transfer
 * must pass is checked here, in one place, before anything is written; the
 * database's CHECK constraints hold the same line again.
 */
import type { DebitSource } from "../call.js";
import { ErrorReason, notFound, refused as refuse } from "../errors.js";
import { checkInt64 } from "./money.js";
import type { Account, AccountState, Entry, Transfer, TransferKind } from "./types.js";

export interface Leg {
  debitAccountId: string;
  creditAccountId: string;
  amount: bigint;
  /** When set, must equal both accounts' currency. */
  currency: string;
  memo: string;
}

/** Names a field of leg `index` for error messages (`legs[2].amount`, or `amount` for a single transfer). */
export type FieldNamer = (field: string) => string;

/**
 * Working copy of locked accounts that postings are applied to in order.
 * Keeps the original version of each touched account for the write guard.
 */
export class PostingSession {
  private readonly current = new Map<string, AccountState>();
  private readonly fromVersion = new Map<string, bigint>();
  readonly entries: Omit<Entry, "position">[] = [];
  /**
   * The time stamped on what this session writes: the transaction's time,
   * but never earlier than the last change of any locked account. Entries of
   * an account are written under its row lock, so their times then never go
   * backwards along its versions, and "balance as of a time" is exact.
   */
  readonly now: Date;

  constructor(private readonly locked: Map<string, Account>, now: Date) {
    let latest = now.getTime();
    for (const account of locked.values()) latest = Math.max(latest, account.updatedAt.getTime());
    this.now = new Date(latest);
  }

  account(id: string, field: string): AccountState {
    const state = this.current.get(id) ?? this.locked.get(id);
    if (!state) throw notFound(field, `account ${id}`);
    return state;
  }

  private set(next: AccountState): void {
    if (!this.fromVersion.has(next.id)) this.fromVersion.set(next.id, this.locked.get(next.id)!.version);
    this.current.set(next.id, next);
  }

  /**
   * The caller may debit this account's kind (the policy's debit grants).
   * Checked right after the accounts are found, before anything about their
   * state is revealed.
   */
  private checkDebitGrant(debit: AccountState, mayDebit: ((source: DebitSource) => boolean) | undefined, name: FieldNamer, metadata: Record<string, string>) {
    if (!mayDebit) return;
    const source: DebitSource = debit.owner.type === "USER" ? { type: "USER" } : { type: "SYSTEM", role: debit.owner.id as "issuance" };
    if (!mayDebit(source)) {
      const kind = source.type === "USER" ? "user" : `system:${source.role}`;
      throw refuse(ErrorReason.DEBIT_NOT_PERMITTED, `the caller may not debit ${kind} accounts`, name("debit_account_id"), { ...metadata, account_kind: kind });
    }
  }

  /** Both accounts usable for moving money between them, in one currency. */
  private checkPair(
    debit: AccountState,
    credit: AccountState,
    currency: string,
    name: FieldNamer,
    metadata: Record<string, string>,
    allowFrozen = false,
  ) {
    for (const [account, field] of [
      [debit, name("debit_account_id")],
      [credit, name("credit_account_id")],
    ] as const) {
      if (account.status === "FROZEN" && !allowFrozen) throw refuse(ErrorReason.ACCOUNT_FROZEN, `account ${account.id} is frozen`, field, metadata);
      if (account.status === "CLOSED") throw refuse(ErrorReason.ACCOUNT_CLOSED, `account ${account.id} is closed`, field, metadata);
    }
    // The identity registry's verdict on the owners: suspended users cannot
    // send (a reversal, a correction rather than their payment, still can);
    // deleted users' accounts can neither send nor receive, nor be changed,
    // reversals included.
    if (debit.ownerStatus === "SUSPENDED" && !allowFrozen) {
      throw refuse(ErrorReason.USER_SUSPENDED, `the owner of account ${debit.id} is suspended`, name("debit_account_id"), metadata);
    }
    for (const [account, field] of [
      [debit, name("debit_account_id")],
      [credit, name("credit_account_id")],
    ] as const) {
      if (account.ownerStatus === "DELETED") {
        throw refuse(ErrorReason.USER_DELETED, `the owner of account ${account.id} is deleted`, field, metadata);
      }
    }
    if (debit.currency !== credit.currency) {
      throw refuse(
        ErrorReason.CURRENCY_MISMATCH,
        `debit account is in ${debit.currency}, credit account in ${credit.currency}`,
        name("credit_account_id"),
        metadata,
      );
    }
    if (currency !== "" && currency !== debit.currency) {
      throw refuse(ErrorReason.CURRENCY_MISMATCH, `accounts are in ${debit.currency}, not ${currency}`, name("currency"), metadata);
    }
  }

  /**
   * The debit side may not end below its policy's floor once `amount` more
   * leaves it. Checked before any overflow (exact, in bigint): when a
   * payment is both uncovered and out of range, it is refused for the funds.
   */
  private checkFunds(debit: AccountState, amount: bigint, name: FieldNamer, metadata: Record<string, string>): void {
    if (debit.minBalance !== null && debit.posted - debit.pendingDebit - amount < debit.minBalance) {
      throw refuse(ErrorReason.INSUFFICIENT_FUNDS, `account ${debit.id} has insufficient funds`, name("amount"), metadata);
    }
  }

  /** Posts `leg`: one debit entry, one credit entry, summing to zero. Returns the transfer record. */
  post(
    leg: Leg,
    record: { id: string; kind: TransferKind; idempotencyKey: string | null; batchId: string | null; reversesId: string | null; holdId: string | null },
    name: FieldNamer,
    metadata: Record<string, string> = {},
    options: {
      /**
       * Reversals may move money out of (and back into) frozen accounts, and
       * out of a suspended owner's: that is what freezing and suspending are
       * for. Never a deleted owner's.
       */
      allowFrozen?: boolean;
      /** The caller's debit grants (CallContext.mayDebit); undefined: not checked. */
      mayDebit?: (source: DebitSource) => boolean;
    } = {},
  ): Transfer {
    const debit = this.account(leg.debitAccountId, name("debit_account_id"));
    const credit = this.account(leg.creditAccountId, name("credit_account_id"));
    this.checkDebitGrant(debit, options.mayDebit, name, metadata);
    this.checkPair(debit, credit, leg.currency, name, metadata, options.allowFrozen);
    this.checkFunds(debit, leg.amount, name, metadata);
    const nextDebit: AccountState = {
      ...debit,
      posted: checkInt64("the debit account's balance", debit.posted - leg.amount, name("amount")),
      version: debit.version + 1n,
    };
    const nextCredit: AccountState = {
      ...credit,
      posted: checkInt64("the credit account's balance", credit.posted + leg.amount, name("amount")),
      version: credit.version + 1n,
    };
    checkInt64("the debit account's available balance", nextDebit.posted - nextDebit.pendingDebit, name("amount"));
    this.set(nextDebit);
    this.set(nextCredit);
    this.entries.push(
      { transferId: record.id, accountId: debit.id, amount: -leg.amount, balanceAfter: nextDebit.posted, accountVersion: nextDebit.version, createdAt: this.now },
      { transferId: record.id, accountId: credit.id, amount: leg.amount, balanceAfter: nextCredit.posted, accountVersion: nextCredit.version, createdAt: this.now },
    );
    return {
      ...record,
      debitAccountId: debit.id,
      creditAccountId: credit.id,
      currency: debit.currency,
      amount: leg.amount,
      memo: leg.memo,
      reversedAmount: 0n,
      createdAt: this.now,
      debitBalanceAfter: nextDebit.posted,
      creditBalanceAfter: nextCredit.posted,
      debitAccountVersion: nextDebit.version,
      creditAccountVersion: nextCredit.version,
    };
  }

  /** Reserves `amount` for a hold: available drops on the debit side, posted does not move. */
  reserve(leg: Leg, name: FieldNamer, mayDebit?: (source: DebitSource) => boolean): void {
    const debit = this.account(leg.debitAccountId, name("debit_account_id"));
    const credit = this.account(leg.creditAccountId, name("credit_account_id"));
    this.checkDebitGrant(debit, mayDebit, name, {});
    this.checkPair(debit, credit, leg.currency, name, {});
    this.checkFunds(debit, leg.amount, name, {});
    const nextDebit = { ...debit, pendingDebit: checkInt64("the pending debits", debit.pendingDebit + leg.amount, name("amount")) };
    const nextCredit = { ...credit, pendingCredit: checkInt64("the pending credits", credit.pendingCredit + leg.amount, name("amount")) };
    checkInt64("the debit account's available balance", nextDebit.posted - nextDebit.pendingDebit, name("amount"));
    this.set(nextDebit);
    this.set(nextCredit);
  }

  /** Releases a hold's reservation (capture, void, expiry). Never refused: it only frees funds. */
  release(hold: { debitAccountId: string; creditAccountId: string; amount: bigint }): void {
    const debit = this.account(hold.debitAccountId, "hold_id");
    const credit = this.account(hold.creditAccountId, "hold_id");
    // A reservation can only be released once; the database CHECK (>= 0) holds it too.
    if (debit.pendingDebit < hold.amount || credit.pendingCredit < hold.amount) {
      throw new Error(`assertion failed: releasing ${hold.amount} exceeds the pending amounts it reserved`);
    }
    this.set({ ...debit, pendingDebit: debit.pendingDebit - hold.amount });
    this.set({ ...credit, pendingCredit: credit.pendingCredit - hold.amount });
  }

  /** Changes an account's status (freeze, unfreeze, close). */
  setStatus(id: string, status: AccountState["status"]): void {
    this.set({ ...this.account(id, "account_id"), status });
  }

  /** Accounts this session changed, with the version each was locked at. */
  changedAccounts(): { state: AccountState; fromVersion: bigint; updatedAt: Date }[] {
    return [...this.current.values()].map((state) => ({ state, fromVersion: this.fromVersion.get(state.id)!, updatedAt: this.now }));
  }

  /** The account as it now stands (locked row merged with this session's changes). */
  view(id: string): Account {
    const base = this.locked.get(id)!;
    const state = this.current.get(id);
    return state ? { ...base, ...state, updatedAt: this.now } : base;
  }
}
