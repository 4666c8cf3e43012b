/**
 * The ledger's use cases. Each mutation is one store transaction that claims
 * the client's idempotency key, locks what it touches in a canonical order,
 * computes the outcome in `PostingSession` and writes it as one set.
 */
import { isUuid, uuidv7 } from "../../lib/ids.js";
import { entryOf, SYSTEM_CONTEXT, type AuditPayload, type AuditRecord, type CallContext } from "../audit/types.js";
import type { ReadConsistency } from "../consistency.js";
import { DomainError, invalidArgument, notFound } from "../errors.js";
import { decodePageToken, encodePageToken, pageSize } from "../pagination.js";
import { checkCurrencyCode } from "./currency.js";
import { checkPositiveAmount } from "./money.js";
import { emptyWriteSet, type AccountFilter, type IdempotencyClaim, type LedgerStore, type LedgerTx, type Page, type TimeRange, type WriteSet } from "./ports.js";
import { TransferGroups, type GroupCommitOptions } from "./group-commit.js";
import { LedgerReason, PostingSession, type FieldNamer, type Leg } from "./posting.js";
import { SYSTEM_ROLES, type Account, type AccountStatus, type Entry, type Hold, type Owner, type Transfer } from "./types.js";

/** Most legs in one TransferBatch. */
export const MAX_BATCH_LEGS = 100;
/** Hold lifetime when a request says 0: 7 days. */
export const DEFAULT_HOLD_TIMEOUT_MS = 7 * 24 * 3600 * 1000;
/** Longest hold lifetime: 30 days. */
export const MAX_HOLD_TIMEOUT_MS = 30 * 24 * 3600 * 1000;
/** Longest memo, label or reason. */
const MAX_MEMO_LENGTH = 256;
const MAX_LABEL_LENGTH = 64;
/** Idempotency keys: 1 to 128 printable ASCII characters; '#' is reserved for batch legs. */
const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x22\x24-\x7e]{1,128}$/;

/** How a mutation's reply is stored under its key, and what comes back. */
export interface Idempotency<R> {
  claim: IdempotencyClaim;
  /** Encodes the reply for storage (the transport's wire format: a replay is byte-identical). */
  encode(result: R): Uint8Array;
  /** Who is calling: recorded in the audit events the change writes. */
  context: CallContext;
}

/** A unit of work's outcome: the reply, what to write, and what to record in the audit log. */
interface Work<R> {
  result: R;
  writes: WriteSet;
  audit: AuditRecord[];
}

/** A fresh result, or the stored reply of an earlier identical request. */
export type Outcome<R> = { result: R; replay?: undefined } | { replay: Uint8Array; result?: undefined };

/** The audit record of a posted transfer (also used by group commit). */
export function transferAudit(t: Transfer): AuditRecord {
  return {
    action: "ledger.transfer",
    resourceType: "transfer",
    resourceId: t.id,
    payload: { debit_account_id: t.debitAccountId, credit_account_id: t.creditAccountId, amount: t.amount.toString(), currency: t.currency },
  };
}

function holdAudit(action: string, h: Hold, extra: AuditPayload): AuditRecord {
  return {
    action,
    resourceType: "hold",
    resourceId: h.id,
    payload: { debit_account_id: h.debitAccountId, credit_account_id: h.creditAccountId, amount: h.amount.toString(), currency: h.currency, ...extra },
  };
}

export function checkIdempotencyKey(key: string): string {
  if (!IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw invalidArgument("idempotency_key", "is required: 1 to 128 printable ASCII characters, without '#'");
  }
  return key;
}

export function checkId(field: string, id: string): string {
  if (!isUuid(id)) throw invalidArgument(field, "must be a UUID (lower-case, hyphenated)");
  return id;
}

function checkText(field: string, value: string, max: number): string {
  if (value.length > max) throw invalidArgument(field, `must be at most ${max} characters`);
  return value;
}

function checkOwner(field: string, owner: Owner | undefined): Owner {
  if (!owner) throw invalidArgument(field, "is required (a user_id or a system role)");
  if (owner.type === "USER") checkId(`${field}.user_id`, owner.id);
  else if (!(SYSTEM_ROLES as readonly string[]).includes(owner.id)) throw invalidArgument(`${field}.system`, "must be a system role");
  return owner;
}

function checkRange(range: TimeRange): TimeRange {
  if (range.start && range.end && range.start >= range.end) throw invalidArgument("end_time", "must be after start_time");
  return range;
}

export interface CreateAccountCommand {
  owner?: Owner;
  currency: string;
  /** undefined: the default policy (users never below zero, system accounts unbounded). */
  policy?: { allowNegative: boolean; overdraftLimit?: bigint };
  label: string;
  isDefault: boolean;
}

export interface TransferCommand extends Leg {
  idempotencyKey: string;
}

export interface HoldCommand extends Leg {
  idempotencyKey: string;
  timeoutMs: bigint;
}

export interface Balances {
  accountId: string;
  currency: string;
  posted: bigint;
  pendingDebit: bigint;
  pendingCredit: bigint;
  available: bigint;
  /** Journal position of the last entry included (0 when none). */
  position: bigint;
}

/** Adds a batch leg's index to a failure, so the client knows which leg failed. */
function atLeg(error: unknown, index: number): unknown {
  if (!(error instanceof DomainError)) return error;
  return new DomainError(error.reason, `legs[${index}]: ${error.message}`, error.field, { ...error.metadata, leg_index: String(index) }, error.category);
}

function legNamer(index: number | null): FieldNamer {
  return index === null ? (field) => field : (field) => `legs[${index}].${field}`;
}

function checkLeg(leg: Leg, name: FieldNamer): Leg {
  checkId(name("debit_account_id"), leg.debitAccountId);
  checkId(name("credit_account_id"), leg.creditAccountId);
  if (leg.debitAccountId === leg.creditAccountId) throw invalidArgument(name("credit_account_id"), "must differ from debit_account_id");
  checkPositiveAmount(name("amount"), leg.amount);
  if (leg.currency !== "") checkCurrencyCode(name("currency"), leg.currency);
  checkText(name("memo"), leg.memo, MAX_MEMO_LENGTH);
  return leg;
}

export class Ledger {
  private readonly groups: TransferGroups | undefined;

  constructor(
    private readonly store: LedgerStore,
    /** Group commit for Transfer; undefined or maxSize 1 runs one transaction per transfer. */
    groupCommit?: GroupCommitOptions,
  ) {
    if (groupCommit && groupCommit.maxSize > 1) {
      this.groups = new TransferGroups(store, groupCommit, (cmd, idem) => this.transferAlone(cmd, idem));
    }
  }

  /** Claims the key, runs `work` and writes its set with the encoded reply, all in one transaction. */
  private mutate<R>(idem: Idempotency<R>, work: (tx: LedgerTx, now: Date) => Promise<Work<R>>): Promise<Outcome<R>> {
    checkIdempotencyKey(idem.claim.key);
    return this.store.transaction(async (tx) => {
      const claimed = await tx.claim(idem.claim);
      if (claimed.kind === "replay") return { replay: claimed.response };
      const { result, writes, audit } = await work(tx, claimed.now);
      writes.audit = audit.map((r) => entryOf(r, idem.context, claimed.now, idem.claim.key));
      await tx.write(writes, { claim: idem.claim, response: idem.encode(result) });
      return { result };
    });
  }

  /**
   * `mutate` for work whose accounts are known up front (transfers, batches,
   * holds): the key is claimed and the accounts locked in one round trip.
   */
  private mutateAccounts<R>(
    idem: Idempotency<R>,
    accountIds: string[],
    work: (locked: Map<string, Account>, now: Date) => Work<R>,
  ): Promise<Outcome<R>> {
    checkIdempotencyKey(idem.claim.key);
    return this.store.transaction(async (tx) => {
      const { outcome, accounts } = await tx.claimAndLockAccounts(idem.claim, accountIds);
      if (outcome.kind === "replay") return { replay: outcome.response };
      const { result, writes, audit } = work(accounts, outcome.now);
      writes.audit = audit.map((r) => entryOf(r, idem.context, outcome.now, idem.claim.key));
      await tx.write(writes, { claim: idem.claim, response: idem.encode(result) });
      return { result };
    });
  }

  // ── Accounts ──────────────────────────────────────────────────────────

  createAccount(cmd: CreateAccountCommand, idem: Idempotency<Account>): Promise<Outcome<Account>> {
    const owner = checkOwner("owner", cmd.owner);
    const currency = checkCurrencyCode("currency", cmd.currency);
    checkText("label", cmd.label, MAX_LABEL_LENGTH);
    if (cmd.isDefault && owner.type !== "USER") throw invalidArgument("is_default", "only a user's account can be a default wallet");
    let minBalance: bigint | null;
    if (!cmd.policy) {
      minBalance = owner.type === "SYSTEM" ? null : 0n;
    } else if (!cmd.policy.allowNegative) {
      if (cmd.policy.overdraftLimit !== undefined) throw invalidArgument("policy.overdraft_limit", "needs allow_negative");
      minBalance = 0n;
    } else if (cmd.policy.overdraftLimit === undefined) {
      minBalance = null;
    } else {
      if (cmd.policy.overdraftLimit < 0n) throw invalidArgument("policy.overdraft_limit", "must be zero or more");
      minBalance = -cmd.policy.overdraftLimit;
    }
    return this.mutate(idem, async (tx, now) => {
      if (owner.type === "USER") {
        const status = await tx.lockUserStatus(owner.id);
        if (status === null) throw notFound("owner.user_id", `user ${owner.id}`);
        if (status === "DELETED") {
          throw new DomainError(LedgerReason.USER_DELETED, `user ${owner.id} is deleted`, "owner.user_id", {}, "FAILED_PRECONDITION");
        }
      }
      const account: Account = {
        id: uuidv7(now.getTime()),
        owner,
        currency,
        status: "ACTIVE",
        minBalance,
        posted: 0n,
        pendingDebit: 0n,
        pendingCredit: 0n,
        version: 0n,
        label: cmd.label,
        isDefault: cmd.isDefault,
        createdAt: now,
        updatedAt: now,
      };
      return {
        result: account,
        writes: { ...emptyWriteSet(), newAccounts: [account] },
        audit: [
          {
            action: "ledger.account.create",
            resourceType: "account",
            resourceId: account.id,
            payload: { owner_type: owner.type, owner_id: owner.id, currency, min_balance: minBalance?.toString() ?? null, is_default: cmd.isDefault },
          },
        ],
      };
    });
  }

  async getAccount(id: string, consistency: ReadConsistency = "STRONG"): Promise<Account> {
    const account = await this.store.findAccount(checkId("account_id", id), consistency);
    if (!account) throw notFound("account_id", `account ${id}`);
    return account;
  }

  async listAccounts(filter: AccountFilter, requestedPageSize: number, pageToken: string): Promise<Page<Account>> {
    if (filter.owner) checkOwner("owner", filter.owner);
    if (filter.currency) checkCurrencyCode("currency", filter.currency);
    const limit = pageSize(requestedPageSize);
    const after = decodePageToken(pageToken, filter);
    // One extra row tells whether another page exists.
    const rows = await this.store.listAccounts(filter, limit + 1, after);
    const items = rows.slice(0, limit);
    return { items, next: rows.length > limit ? encodePageToken(items[items.length - 1]!.id, filter) : "" };
  }

  private changeStatus(
    id: string,
    idem: Idempotency<Account>,
    action: string,
    reason: string,
    decide: (account: Account) => AccountStatus,
  ): Promise<Outcome<Account>> {
    checkId("account_id", id);
    return this.mutate(idem, async (tx, now) => {
      const locked = await tx.lockAccounts([id]);
      const account = locked.get(id);
      if (!account) throw notFound("account_id", `account ${id}`);
      const next = decide(account);
      const audit = [{ action, resourceType: "account", resourceId: id, payload: { from_status: account.status, to_status: next, reason } }];
      if (next === account.status) return { result: account, writes: emptyWriteSet(), audit };
      const session = new PostingSession(locked, now);
      session.setStatus(id, next);
      return { result: session.view(id), writes: { ...emptyWriteSet(), accounts: session.changedAccounts() }, audit };
    });
  }

  freezeAccount(id: string, reason: string, idem: Idempotency<Account>): Promise<Outcome<Account>> {
    checkText("reason", reason, MAX_MEMO_LENGTH);
    return this.changeStatus(id, idem, "ledger.account.freeze", reason, (a) => {
      if (a.status === "CLOSED") throw new DomainError(LedgerReason.ACCOUNT_CLOSED, `account ${id} is closed`, "account_id", {}, "FAILED_PRECONDITION");
      return "FROZEN";
    });
  }

  unfreezeAccount(id: string, reason: string, idem: Idempotency<Account>): Promise<Outcome<Account>> {
    checkText("reason", reason, MAX_MEMO_LENGTH);
    return this.changeStatus(id, idem, "ledger.account.unfreeze", reason, (a) => {
      if (a.status === "CLOSED") throw new DomainError(LedgerReason.ACCOUNT_CLOSED, `account ${id} is closed`, "account_id", {}, "FAILED_PRECONDITION");
      return "ACTIVE";
    });
  }

  closeAccount(id: string, reason: string, idem: Idempotency<Account>): Promise<Outcome<Account>> {
    checkText("reason", reason, MAX_MEMO_LENGTH);
    return this.changeStatus(id, idem, "ledger.account.close", reason, (a) => {
      if (a.status !== "CLOSED" && (a.posted !== 0n || a.pendingDebit !== 0n || a.pendingCredit !== 0n)) {
        throw new DomainError(
          LedgerReason.ACCOUNT_NOT_EMPTY,
          `account ${id} can only be closed at zero balance with no pending holds`,
          "account_id",
          {},
          "FAILED_PRECONDITION",
        );
      }
      return "CLOSED";
    });
  }

  async getBalance(id: string, asOf?: { time: Date } | { position: bigint }, consistency: ReadConsistency = "STRONG"): Promise<Balances> {
    if (!asOf) {
      const found = await this.store.findBalance(checkId("account_id", id), consistency);
      if (!found) throw notFound("account_id", `account ${id}`);
      const { account, last } = found;
      return {
        accountId: id,
        currency: account.currency,
        posted: account.posted,
        pendingDebit: account.pendingDebit,
        pendingCredit: account.pendingCredit,
        available: account.posted - account.pendingDebit,
        position: last?.position ?? 0n,
      };
    }
    if ("position" in asOf && asOf.position < 0n) throw invalidArgument("as_of_position", "must be zero or more");
    const account = await this.getAccount(id);
    const last = await this.store.lastEntryAsOf(id, asOf);
    const posted = last?.balanceAfter ?? 0n;
    return { accountId: id, currency: account.currency, posted, pendingDebit: 0n, pendingCredit: 0n, available: posted, position: last?.position ?? 0n };
  }

  // ── Transfers ─────────────────────────────────────────────────────────

  transfer(cmd: TransferCommand, idem: Idempotency<Transfer>): Promise<Outcome<Transfer>> {
    checkLeg(cmd, legNamer(null));
    checkIdempotencyKey(idem.claim.key);
    return this.groups ? this.groups.submit(cmd, idem) : this.transferAlone(cmd, idem);
  }

  /** One transfer in its own transaction. */
  private transferAlone(cmd: TransferCommand, idem: Idempotency<Transfer>): Promise<Outcome<Transfer>> {
    return this.mutateAccounts(idem, [cmd.debitAccountId, cmd.creditAccountId], (locked, now) => {
      const session = new PostingSession(locked, now);
      const transfer = session.post(
        cmd,
        { id: uuidv7(now.getTime()), kind: "TRANSFER", idempotencyKey: cmd.idempotencyKey, batchId: null, reversesId: null, holdId: null },
        legNamer(null),
      );
      return {
        result: transfer,
        writes: { ...emptyWriteSet(), accounts: session.changedAccounts(), transfers: [transfer], entries: session.entries },
        audit: [transferAudit(transfer)],
      };
    });
  }

  transferBatch(key: string, legs: Leg[], idem: Idempotency<{ batchId: string; transfers: Transfer[] }>) {
    if (legs.length === 0 || legs.length > MAX_BATCH_LEGS) throw invalidArgument("legs", `must hold 1 to ${MAX_BATCH_LEGS} legs`);
    legs.forEach((leg, i) => {
      try {
        checkLeg(leg, legNamer(i));
      } catch (error) {
        throw atLeg(error, i);
      }
    });
    const ids = legs.flatMap((l) => [l.debitAccountId, l.creditAccountId]);
    return this.mutateAccounts(idem, ids, (locked, now) => {
      const session = new PostingSession(locked, now);
      const batchId = uuidv7(now.getTime());
      const transfers = legs.map((leg, i) => {
        try {
          return session.post(
            leg,
            { id: uuidv7(now.getTime()), kind: "TRANSFER", idempotencyKey: `${key}#${i}`, batchId, reversesId: null, holdId: null },
            legNamer(i),
            { leg_index: String(i) },
          );
        } catch (error) {
          throw atLeg(error, i);
        }
      });
      return {
        result: { batchId, transfers },
        writes: { ...emptyWriteSet(), accounts: session.changedAccounts(), transfers, entries: session.entries },
        audit: [
          {
            action: "ledger.transfer_batch",
            resourceType: "transfer_batch",
            resourceId: batchId,
            payload: { transfers: transfers.map((t) => ({ id: t.id, debit_account_id: t.debitAccountId, credit_account_id: t.creditAccountId, amount: t.amount.toString(), currency: t.currency })) },
          },
        ],
      };
    });
  }

  reverseTransfer(transferId: string, amount: bigint, memo: string, idem: Idempotency<{ reversal: Transfer; original: Transfer }>) {
    checkId("transfer_id", transferId);
    if (amount < 0n) throw invalidArgument("amount", "must be zero (all that is left) or more");
    checkText("memo", memo, MAX_MEMO_LENGTH);
    return this.mutate(idem, async (tx, now) => {
      const original = await tx.lockTransfer(transferId);
      if (!original) throw notFound("transfer_id", `transfer ${transferId}`);
      if (original.kind === "REVERSAL") {
        throw new DomainError(LedgerReason.REVERSAL_EXCEEDS_TRANSFER, "a reversal cannot itself be reversed", "transfer_id", {}, "FAILED_PRECONDITION");
      }
      const left = original.amount - original.reversedAmount;
      const take = amount === 0n ? left : amount;
      if (take === 0n || take > left) {
        throw new DomainError(
          LedgerReason.REVERSAL_EXCEEDS_TRANSFER,
          `only ${left} of transfer ${transferId} is left to reverse`,
          "amount",
          { remaining: String(left) },
          "FAILED_PRECONDITION",
        );
      }
      const session = new PostingSession(await tx.lockAccounts([original.debitAccountId, original.creditAccountId]), now);
      const reversal = session.post(
        { debitAccountId: original.creditAccountId, creditAccountId: original.debitAccountId, amount: take, currency: original.currency, memo },
        { id: uuidv7(now.getTime()), kind: "REVERSAL", idempotencyKey: null, batchId: null, reversesId: original.id, holdId: null },
        (field) => (field === "amount" ? "amount" : "transfer_id"),
        {},
        { allowFrozen: true },
      );
      const updated = { ...original, reversedAmount: original.reversedAmount + take };
      return {
        result: { reversal, original: updated },
        audit: [
          {
            action: "ledger.transfer.reverse",
            resourceType: "transfer",
            resourceId: reversal.id,
            payload: { reverses_transfer_id: original.id, amount: take.toString(), currency: original.currency, reversed_amount: updated.reversedAmount.toString() },
          },
        ],
        writes: {
          ...emptyWriteSet(),
          accounts: session.changedAccounts(),
          transfers: [reversal],
          entries: session.entries,
          reversals: [{ transferId: original.id, reversedAmount: updated.reversedAmount }],
        },
      };
    });
  }

  async getTransfer(by: { id: string } | { idempotencyKey: string }, consistency: ReadConsistency = "STRONG"): Promise<Transfer> {
    if ("id" in by) checkId("transfer_id", by.id);
    else checkText("idempotency_key", by.idempotencyKey, 160);
    const transfer = await this.store.findTransfer(by, consistency);
    if (!transfer) throw notFound("id" in by ? "transfer_id" : "idempotency_key", "transfer");
    return transfer;
  }

  async listEntries(accountId: string, range: TimeRange, requestedPageSize: number, pageToken: string): Promise<Page<Entry>> {
    checkId("account_id", accountId);
    checkRange(range);
    const limit = pageSize(requestedPageSize);
    const filters = { accountId, start: range.start?.toISOString(), end: range.end?.toISOString() };
    const cursor = decodePageToken(pageToken, filters);
    await this.getAccount(accountId);
    const rows = await this.store.listEntries(accountId, range, limit + 1, cursor === null ? null : BigInt(cursor));
    const items = rows.slice(0, limit);
    return { items, next: rows.length > limit ? encodePageToken(String(items[items.length - 1]!.position), filters) : "" };
  }

  /** The transfers that touched an account, newest first: one per entry of the account. */
  async listTransfers(accountId: string, range: TimeRange, requestedPageSize: number, pageToken: string): Promise<Page<Transfer>> {
    const entries = await this.listEntries(accountId, range, requestedPageSize, pageToken);
    const byId = new Map((await this.store.findTransfers(entries.items.map((e) => e.transferId))).map((t) => [t.id, t]));
    return { items: entries.items.map((e) => byId.get(e.transferId)!), next: entries.next };
  }

  // ── Holds (two-phase transfers) ───────────────────────────────────────

  createHold(cmd: HoldCommand, idem: Idempotency<Hold>): Promise<Outcome<Hold>> {
    checkLeg(cmd, legNamer(null));
    if (cmd.timeoutMs < 0n || cmd.timeoutMs > BigInt(MAX_HOLD_TIMEOUT_MS)) {
      throw invalidArgument("timeout_ms", `must be between 0 and ${MAX_HOLD_TIMEOUT_MS} (0 means ${DEFAULT_HOLD_TIMEOUT_MS})`);
    }
    const timeoutMs = cmd.timeoutMs === 0n ? DEFAULT_HOLD_TIMEOUT_MS : Number(cmd.timeoutMs);
    return this.mutateAccounts(idem, [cmd.debitAccountId, cmd.creditAccountId], (locked, now) => {
      const session = new PostingSession(locked, now);
      session.reserve(cmd, legNamer(null));
      const hold: Hold = {
        id: uuidv7(now.getTime()),
        debitAccountId: cmd.debitAccountId,
        creditAccountId: cmd.creditAccountId,
        currency: locked.get(cmd.debitAccountId)!.currency,
        amount: cmd.amount,
        status: "PENDING",
        capturedAmount: 0n,
        captureTransferId: null,
        expiresAt: new Date(now.getTime() + timeoutMs),
        idempotencyKey: cmd.idempotencyKey,
        memo: cmd.memo,
        createdAt: now,
        updatedAt: now,
      };
      return {
        result: hold,
        writes: { ...emptyWriteSet(), accounts: session.changedAccounts(), holds: [hold] },
        audit: [holdAudit("ledger.hold.create", hold, { expires_at: hold.expiresAt.toISOString() })],
      };
    });
  }

  private async lockPendingHold(tx: LedgerTx, holdId: string): Promise<Hold> {
    const hold = await tx.lockHold(holdId);
    if (!hold) throw notFound("hold_id", `hold ${holdId}`);
    if (hold.status !== "PENDING") {
      throw new DomainError(LedgerReason.HOLD_NOT_PENDING, `hold ${holdId} is ${hold.status.toLowerCase()}`, "hold_id", { status: hold.status }, "FAILED_PRECONDITION");
    }
    return hold;
  }

  captureHold(holdId: string, amount: bigint, idem: Idempotency<{ hold: Hold; transfer: Transfer }>) {
    checkId("hold_id", holdId);
    if (amount < 0n) throw invalidArgument("amount", "must be zero (the whole hold) or more");
    return this.mutate(idem, async (tx, now) => {
      const hold = await this.lockPendingHold(tx, holdId);
      if (hold.expiresAt <= now) {
        throw new DomainError(LedgerReason.HOLD_EXPIRED, `hold ${holdId} expired at ${hold.expiresAt.toISOString()}`, "hold_id", {}, "FAILED_PRECONDITION");
      }
      const take = amount === 0n ? hold.amount : amount;
      if (take > hold.amount) throw invalidArgument("amount", `must not exceed the hold's amount (${hold.amount})`);
      const session = new PostingSession(await tx.lockAccounts([hold.debitAccountId, hold.creditAccountId]), now);
      session.release(hold);
      const transfer = session.post(
        { debitAccountId: hold.debitAccountId, creditAccountId: hold.creditAccountId, amount: take, currency: hold.currency, memo: hold.memo },
        { id: uuidv7(now.getTime()), kind: "HOLD_CAPTURE", idempotencyKey: null, batchId: null, reversesId: null, holdId: hold.id },
        (field) => (field === "amount" ? "amount" : "hold_id"),
      );
      const captured: Hold = { ...hold, status: "CAPTURED", capturedAmount: take, captureTransferId: transfer.id, updatedAt: session.now };
      return {
        result: { hold: captured, transfer },
        writes: { ...emptyWriteSet(), accounts: session.changedAccounts(), transfers: [transfer], entries: session.entries, holds: [captured] },
        audit: [holdAudit("ledger.hold.capture", captured, { captured_amount: take.toString(), transfer_id: transfer.id })],
      };
    });
  }

  voidHold(holdId: string, idem: Idempotency<Hold>): Promise<Outcome<Hold>> {
    checkId("hold_id", holdId);
    return this.mutate(idem, async (tx, now) => {
      const hold = await this.lockPendingHold(tx, holdId);
      const session = new PostingSession(await tx.lockAccounts([hold.debitAccountId, hold.creditAccountId]), now);
      session.release(hold);
      // Past its time but not yet swept: it expired; either way the funds are released now.
      const voided: Hold = { ...hold, status: hold.expiresAt <= now ? "EXPIRED" : "VOIDED", updatedAt: session.now };
      return {
        result: voided,
        writes: { ...emptyWriteSet(), accounts: session.changedAccounts(), holds: [voided] },
        audit: [holdAudit("ledger.hold.void", voided, { status: voided.status })],
      };
    });
  }

  async getHold(holdId: string): Promise<Hold> {
    const hold = await this.store.findHold(checkId("hold_id", holdId));
    if (!hold) throw notFound("hold_id", `hold ${holdId}`);
    return hold;
  }

  /**
   * Forgets idempotency keys older than `retentionMs` (at most `limit` per
   * call). Transfers keep their keys for ever on the transfer itself.
   */
  purgeIdempotencyKeys(retentionMs: number, limit: number): Promise<number> {
    return this.store.purgeIdempotencyKeys(new Date(Date.now() - retentionMs), limit);
  }

  /**
   * Expires up to `limit` pending holds whose time is up, releasing their
   * funds. Safe to run from several instances at once (SKIP LOCKED).
   * Returns how many it expired. When none is due it costs one cheap query
   * and no transaction (over Accelerate each transaction step is an HTTP
   * round trip and a billed query), and says when the next one falls due, so
   * the job can sleep until then.
   */
  async expireHolds(limit: number): Promise<{ expired: number; nextDueAt: Date | null }> {
    const { next, now } = await this.store.nextHoldExpiry();
    if (next === null || next > now) return { expired: 0, nextDueAt: next };
    const expired = await this.store.transaction(async (tx) => {
      const holds = await tx.lockExpiredHolds(limit);
      if (holds.length === 0) return 0;
      const locked = await tx.lockAccounts(holds.flatMap((h) => [h.debitAccountId, h.creditAccountId]));
      const now = new Date();
      const session = new PostingSession(locked, now);
      for (const hold of holds) session.release(hold);
      const expired = holds.map((h): Hold => ({ ...h, status: "EXPIRED", updatedAt: now }));
      const audit = expired.map((h) => entryOf(holdAudit("ledger.hold.expire", h, {}), SYSTEM_CONTEXT, now, null));
      await tx.write({ ...emptyWriteSet(), accounts: session.changedAccounts(), holds: expired, audit });
      return expired.length;
    });
    // Unknown until the next probe: it may be due already.
    return { expired, nextDueAt: null };
  }
}
