/**
 * What the ledger domain needs from storage. The store implements it with
 * Prisma; the domain never sees SQL. Every mutation runs inside one
 * `transaction`, which the store retries on serialization failures and
 * deadlocks, with a bound.
 */
import type { AuditEntry } from "../audit/types.js";
import type { TimeRange } from "../checks.js";
import type { ReadConsistency } from "../consistency.js";
import type { CallContext, DebitSource } from "../call.js";
import type { DomainError } from "../errors.js";
import type { ClaimOutcome, Completion, IdempotencyClaim, StoredOutcome } from "../idempotency.js";
import type { KeyedTx } from "../keyed.js";
import type { Page } from "../pagination.js";
import type { Leg } from "./posting.js";
import type { Account, AccountState, AccountStatus, Entry, Hold, Owner, Transfer } from "./types.js";

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

export interface LedgerTx extends KeyedTx {
  /**
   * `claim` and `lockAccounts` in one round trip, for the hot paths. Locks
   * are taken even when the key turns out to be taken (then released at once
   * by the rollback-free replay).
   */
  claimAndLockAccounts(claim: IdempotencyClaim, ids: string[]): Promise<{ outcome: ClaimOutcome; accounts: Map<string, Account> }>;
  /** The stored outcome of a taken key, or IDEMPOTENCY_KEY_REUSED when the request differs. */
  replay(claim: IdempotencyClaim): Promise<StoredOutcome>;
  /** Locks accounts in id order (canonical: no deadlocks) and returns them by id. */
  lockAccounts(ids: string[]): Promise<Map<string, Account>>;
  /** The status of a user (shared lock), or null when no such user exists. */
  lockUserStatus(userId: string): Promise<"ACTIVE" | "SUSPENDED" | "DELETED" | null>;
  /** Locks a hold row. */
  lockHold(id: string): Promise<Hold | null>;
  /** Locks a transfer row (for reversals). */
  lockTransfer(id: string): Promise<Transfer | null>;
  /** Pending holds whose time is up, locked (skipping those others hold), and the database's clock they were judged by. */
  lockExpiredHolds(limit: number): Promise<{ holds: Hold[]; now: Date }>;
  /**
   * Writes the set and, when given, the reply under the claimed key, in one
   * statement. The database re-checks every invariant (CHECK constraints).
   */
  write(set: WriteSet, completion?: Completion): Promise<void>;
}

export interface AccountFilter {
  owner?: Owner;
  currency?: string;
  status?: AccountStatus;
}

/** One transfer of a group, as the one-statement path (`postTransfers`) takes it. */
export interface TransferMember {
  claim: IdempotencyClaim;
  /** The new transfer's id (time-ordered). */
  id: string;
  leg: Leg;
  /** The kinds of account the caller may debit; null: not checked. */
  debitGrants: DebitSource[] | null;
  /** Recorded in the transfer's audit event. */
  context: Pick<CallContext, "actor" | "onBehalfOf" | "requestId">;
}

/** What the database decided for one member of a group. */
export type MemberOutcome =
  /** Posted now. */
  | { kind: "new"; transfer: Transfer }
  /** Refused now (stored under its key as its final outcome). */
  | { kind: "refused"; error: DomainError }
  /** Its key already had an outcome, for the same request. */
  | { kind: "stored"; stored: StoredOutcome }
  /** Its key was used before for another request. */
  | { kind: "reused" };


/** Where the previous page of an account's entries ended. */
export interface EntryCursor {
  /** The last entry's position: the next page's entries are below it. */
  position: bigint;
  /** The last entry's account version, when known (older page tokens lack it). */
  version: bigint | null;
}

export interface LedgerStore {
  transaction<T>(fn: (tx: LedgerTx) => Promise<T>): Promise<T>;
  /**
   * Transfer's one-statement path: claims every member's key, locks the
   * accounts in id order, posts the members in order (the same rules as
   * PostingSession) and writes them with each key's outcome, as one statement
   * that PostgreSQL runs as one transaction (one round trip on every path).
   */
  postTransfers(scope: string, members: TransferMember[]): Promise<MemberOutcome[]>;
  findAccount(id: string, consistency?: ReadConsistency): Promise<Account | null>;
  /** An account with the journal position of its newest entry (0 when none), as of one moment. */
  findBalance(id: string, consistency: ReadConsistency): Promise<{ account: Account; position: bigint } | null>;
  listAccounts(filter: AccountFilter, limit: number, afterId: string | null): Promise<Account[]>;
  findTransfer(by: { id: string } | { idempotencyKey: string }, consistency?: ReadConsistency): Promise<Transfer | null>;
  findTransfers(ids: string[]): Promise<Transfer[]>;
  findHold(id: string): Promise<Hold | null>;
  /**
   * Entries of an account within `range`, newest first, with positions below
   * `before.position` (the last entry of the previous page; `version`, its
   * account version, when the page token carried it).
   */
  listEntries(accountId: string, range: TimeRange, limit: number, before: EntryCursor | null): Promise<Entry[]>;
  /** The earliest expiry among pending holds (null when none), and the database's clock (a cheap probe before locking them). */
  nextHoldExpiry(): Promise<{ next: Date | null; now: Date }>;
  /** Deletes up to `limit` idempotency keys created before `before`; returns how many. */
  purgeIdempotencyKeys(before: Date, limit: number): Promise<number>;
  /** The last entry of an account at or before a time or position. */
  lastEntryAsOf(accountId: string, asOf: { time: Date } | { position: bigint }): Promise<Entry | null>;
}

export type { Page };
