/**
 * What the ledger domain needs from storage. The store implements it with
 * Prisma; the domain never sees SQL. Every mutation runs inside one
 * `transaction`, which the store retries on serialization failures and
 * deadlocks, with a bound.
 */
import type { AuditEntry } from "../audit/types.js";
import type { ReadConsistency } from "../consistency.js";
import type { Account, AccountState, AccountStatus, Entry, Hold, Owner, Transfer } from "./types.js";

/** A client's idempotency key, scoped to one RPC, with a hash of its request. */
export interface IdempotencyClaim {
  /** The RPC, e.g. "ledger.Transfer". */
  scope: string;
  key: string;
  /** SHA-256 of the request (without its key), so a reused key with another request is caught. */
  requestHash: Uint8Array;
}

export type ClaimOutcome =
  /** First time: go ahead; `now` is the transaction's timestamp. */
  | { kind: "new"; now: Date }
  /** Done before with the same request: here is the original reply. */
  | { kind: "replay"; response: Uint8Array };

/** Everything one mutation writes, as sets, in one statement. */
export interface WriteSet {
  /**
   * New balances and status of locked accounts; `fromVersion` guards that
   * nothing moved underneath (it cannot, under the row lock: an assertion).
   */
  accounts: { state: AccountState; fromVersion: bigint; updatedAt: Date }[];
  newAccounts: Account[];
  transfers: Transfer[];
  /** Entries; positions are assigned by the database. */
  entries: Omit<Entry, "position">[];
  /** Holds to insert or update. */
  holds: Hold[];
  /** New reversed amounts of earlier transfers. */
  reversals: { transferId: string; reversedAmount: bigint }[];
  /** The Aegis audit events of this change, written by the same statement. */
  audit: AuditEntry[];
}

export function emptyWriteSet(): WriteSet {
  return { accounts: [], newAccounts: [], transfers: [], entries: [], holds: [], reversals: [], audit: [] };
}

export interface LedgerTx {
  /**
   * Claims an idempotency key: inserts it, or waits for a concurrent holder
   * to finish and then reports its reply. A different request under the same
   * key fails with IDEMPOTENCY_KEY_REUSED.
   */
  claim(claim: IdempotencyClaim): Promise<ClaimOutcome>;
  /**
   * `claim` and `lockAccounts` in one round trip, for the hot paths. Locks
   * are taken even when the key turns out to be taken (then released at once
   * by the rollback-free replay).
   */
  claimAndLockAccounts(claim: IdempotencyClaim, ids: string[]): Promise<{ outcome: ClaimOutcome; accounts: Map<string, Account> }>;
  /**
   * Group commit: claims many keys and locks all their accounts in one round
   * trip. `claimed(claim)` is the transaction time when this transaction
   * took the key, or null when it was already taken (see `replay`).
   */
  claimManyAndLockAccounts(
    claims: IdempotencyClaim[],
    ids: string[],
  ): Promise<{ claimed: (claim: IdempotencyClaim) => Date | null; accounts: Map<string, Account> }>;
  /** The stored reply of a taken key, or IDEMPOTENCY_KEY_REUSED when the request differs. */
  replay(claim: IdempotencyClaim): Promise<ClaimOutcome>;
  /** Locks accounts in id order (canonical: no deadlocks) and returns them by id. */
  lockAccounts(ids: string[]): Promise<Map<string, Account>>;
  /** The status of a user (shared lock), or null when no such user exists. */
  lockUserStatus(userId: string): Promise<"ACTIVE" | "SUSPENDED" | "DELETED" | null>;
  /** Locks a hold row. */
  lockHold(id: string): Promise<Hold | null>;
  /** Locks a transfer row (for reversals). */
  lockTransfer(id: string): Promise<Transfer | null>;
  /** Pending holds whose time is up, locked (skipping those others hold). */
  lockExpiredHolds(limit: number): Promise<Hold[]>;
  /**
   * Writes the set and, when given, the reply under the claimed key, in one
   * statement. The database re-checks every invariant (CHECK constraints).
   */
  write(set: WriteSet, completion?: { claim: IdempotencyClaim; response: Uint8Array }): Promise<void>;
  /**
   * Group commit's write: the set, the replies of every completed key, and
   * the release of the keys whose requests failed (so their retries run afresh).
   */
  writeGroup(set: WriteSet, completions: { claim: IdempotencyClaim; response: Uint8Array }[], released: IdempotencyClaim[]): Promise<void>;
}

export interface Page<T> {
  items: T[];
  /** Opaque cursor for the next page, or "" when there is none. */
  next: string;
}

export interface AccountFilter {
  owner?: Owner;
  currency?: string;
  status?: AccountStatus;
}

export interface TimeRange {
  start?: Date;
  end?: Date;
}

export interface LedgerStore {
  transaction<T>(fn: (tx: LedgerTx) => Promise<T>): Promise<T>;
  findAccount(id: string, consistency?: ReadConsistency): Promise<Account | null>;
  /** An account with its newest entry (for the current balance and its journal position), as of one moment. */
  findBalance(id: string, consistency: ReadConsistency): Promise<{ account: Account; last: Entry | null } | null>;
  listAccounts(filter: AccountFilter, limit: number, afterId: string | null): Promise<Account[]>;
  findTransfer(by: { id: string } | { idempotencyKey: string }, consistency?: ReadConsistency): Promise<Transfer | null>;
  findTransfers(ids: string[]): Promise<Transfer[]>;
  findHold(id: string): Promise<Hold | null>;
  /** Entries of an account, newest first, with positions below `beforePosition`. */
  listEntries(accountId: string, range: TimeRange, limit: number, beforePosition: bigint | null): Promise<Entry[]>;
  /** The earliest expiry among pending holds (null when none), and the database's clock (a cheap probe before locking them). */
  nextHoldExpiry(): Promise<{ next: Date | null; now: Date }>;
  /** Deletes up to `limit` idempotency keys created before `before`; returns how many. */
  purgeIdempotencyKeys(before: Date, limit: number): Promise<number>;
  /** The last entry of an account at or before a time or position. */
  lastEntryAsOf(accountId: string, asOf: { time: Date } | { position: bigint }): Promise<Entry | null>;
}
