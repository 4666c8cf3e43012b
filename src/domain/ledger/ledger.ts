/**
 * The ledger's use cases: accounts, balances, transfers, batches and
 * reversals (holds are in holds.ts). Each mutation is one store transaction
 * that claims the client's idempotency key, locks what it touches in a
 * canonical order, computes the outcome in `PostingSession` and writes it as
 * one set (mutations.ts).
 */
import { isUuid, uuidv7 } from "../../lib/ids.js";
import { checkId, type TimeRange } from "../checks.js";
import type { ReadConsistency } from "../consistency.js";
import { DomainError, ErrorReason, invalidArgument, notFound } from "../errors.js";
import { checkIdempotencyKey, type Idempotency, type Outcome } from "../idempotency.js";
import { decodeIdCursor, decodePageCursor, encodePageToken, pageSize, parsePosition } from "../pagination.js";
import { accountCreateAudit, accountStatusAudit, batchAudit, reversalAudit, transferAudit } from "./audit-records.js";
import type { Balances, CreateAccountCommand, TransferCommand } from "./commands.js";
import { TransferGroups, type GroupCommitOptions } from "./group-commit.js";
import { Mutations } from "./mutations.js";
import { emptyWriteSet, type AccountFilter, type LedgerStore, type Page } from "./ports.js";
import { PostingSession, type Leg } from "./posting.js";
import type { Account, AccountStatus, Entry, Transfer } from "./types.js";
import type { CurrencyLookup } from "./currency.js";
import { atLeg, checkLeg, checkLegCurrency, checkOwner, legNamer } from "./validators.js";

export class Ledger {
  private readonly groups: TransferGroups;
  private readonly mutations: Mutations;

  constructor(
    private readonly store: LedgerStore,
    /** Which currencies exist (a request's optional `currency` must name one). */
    private readonly currencies: CurrencyLookup,
    /** Group commit for Transfer; default: each transfer alone (maxSize 1), up to 8 at once. */
    groupCommit?: GroupCommitOptions,
  ) {
    this.mutations = new Mutations(store);
    this.groups = new TransferGroups(store, groupCommit ?? { maxSize: 1, maxConcurrent: 8 }, (cmd, idem) => this.transferAlone(cmd, idem));
  }

  // ── Accounts ──────────────────────────────────────────────────────────

  createAccount(cmd: CreateAccountCommand, idem: Idempotency<Account>): Promise<Outcome<Account>> {
    const owner = checkOwner("owner", cmd.owner);
    const currency = cmd.currency;
    // The contract's rules have refused an overdraft limit without allow_negative, a negative one,
    // and a default wallet of a system role (PostgreSQL's CHECKs refuse the last two too).
    let minBalance: bigint | null;
    if (!cmd.policy) {
      minBalance = owner.type === "SYSTEM" ? null : 0n;
    } else if (!cmd.policy.allowNegative) {
      minBalance = 0n;
    } else if (cmd.policy.overdraftLimit === undefined) {
      minBalance = null;
    } else {
      minBalance = -cmd.policy.overdraftLimit;
    }
    return this.mutations.run(idem, async (tx, now) => {
      if (owner.type === "USER") {
        const status = await tx.lockUserStatus(owner.id);
        if (status === null) throw notFound("owner.user_id", `user ${owner.id}`);
        if (status === "DELETED") {
          throw new DomainError(ErrorReason.USER_DELETED, `user ${owner.id} is deleted`, "owner.user_id");
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
        audit: [accountCreateAudit(account.id, owner, currency, minBalance, cmd.isDefault)],
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
    const limit = pageSize(requestedPageSize);
    const fingerprint = { listing: "accounts", ...filter };
    const after = decodeIdCursor(pageToken, fingerprint);
    // One extra row tells whether another page exists.
    const rows = await this.store.listAccounts(filter, limit + 1, after);
    const items = rows.slice(0, limit);
    return { items, next: rows.length > limit ? encodePageToken(items[items.length - 1]!.id, fingerprint) : "" };
  }

  private changeStatus(
    id: string,
    idem: Idempotency<Account>,
    action: string,
    reason: string,
    decide: (account: Account) => AccountStatus,
  ): Promise<Outcome<Account>> {
    checkId("account_id", id);
    return this.mutations.run(idem, async (tx, now) => {
      const locked = await tx.lockAccounts([id]);
      const account = locked.get(id);
      if (!account) throw notFound("account_id", `account ${id}`);
      const next = decide(account);
      const audit = [accountStatusAudit(action, id, account.status, next, reason)];
      if (next === account.status) return { result: account, writes: emptyWriteSet(), audit };
      const session = new PostingSession(locked, now);
      session.setStatus(id, next);
      return { result: session.view(id), writes: { ...emptyWriteSet(), accounts: session.changedAccounts() }, audit };
    });
  }

  freezeAccount(id: string, reason: string, idem: Idempotency<Account>): Promise<Outcome<Account>> {
    return this.changeStatus(id, idem, "ledger.account.freeze", reason, (a) => {
      if (a.status === "CLOSED") throw new DomainError(ErrorReason.ACCOUNT_CLOSED, `account ${id} is closed`, "account_id");
      return "FROZEN";
    });
  }

  unfreezeAccount(id: string, reason: string, idem: Idempotency<Account>): Promise<Outcome<Account>> {
    return this.changeStatus(id, idem, "ledger.account.unfreeze", reason, (a) => {
      if (a.status === "CLOSED") throw new DomainError(ErrorReason.ACCOUNT_CLOSED, `account ${id} is closed`, "account_id");
      return "ACTIVE";
    });
  }

  closeAccount(id: string, reason: string, idem: Idempotency<Account>): Promise<Outcome<Account>> {
    return this.changeStatus(id, idem, "ledger.account.close", reason, (a) => {
      if (a.status !== "CLOSED" && (a.posted !== 0n || a.pendingDebit !== 0n || a.pendingCredit !== 0n)) {
        throw new DomainError(ErrorReason.ACCOUNT_NOT_EMPTY, `account ${id} can only be closed at zero balance with no pending holds`, "account_id");
      }
      return "CLOSED";
    });
  }

  async getBalance(id: string, asOf?: { time: Date } | { position: bigint }, consistency: ReadConsistency = "STRONG"): Promise<Balances> {
    if (!asOf) {
      const found = await this.store.findBalance(checkId("account_id", id), consistency);
      if (!found) throw notFound("account_id", `account ${id}`);
      const { account, position } = found;
      return {
        accountId: id,
        currency: account.currency,
        posted: account.posted,
        pendingDebit: account.pendingDebit,
        pendingCredit: account.pendingCredit,
        available: account.posted - account.pendingDebit,
        position,
      };
    }
    const account = await this.getAccount(id);
    const last = await this.store.lastEntryAsOf(id, asOf);
    const posted = last?.balanceAfter ?? 0n;
    return { accountId: id, currency: account.currency, posted, pendingDebit: 0n, pendingCredit: 0n, available: posted, position: last?.position ?? 0n };
  }

  // ── Transfers ─────────────────────────────────────────────────────────

  async transfer(cmd: TransferCommand, idem: Idempotency<Transfer>): Promise<Outcome<Transfer>> {
    checkLeg(cmd, legNamer(null));
    checkIdempotencyKey(idem.claim.key);
    await checkLegCurrency(this.currencies, cmd, legNamer(null));
    return this.groups.submit(cmd, idem);
  }

  /** One transfer in its own interactive transaction (PostingSession): the fallback when a group's statement fails. */
  private transferAlone(cmd: TransferCommand, idem: Idempotency<Transfer>): Promise<Outcome<Transfer>> {
    return this.mutations.runOnAccounts(idem, [cmd.debitAccountId, cmd.creditAccountId], (locked, now) => {
      const session = new PostingSession(locked, now);
      const transfer = session.post(
        cmd,
        { id: uuidv7(now.getTime()), kind: "TRANSFER", idempotencyKey: cmd.idempotencyKey, batchId: null, reversesId: null, holdId: null },
        legNamer(null),
        {},
        { mayDebit: idem.context.mayDebit },
      );
      return {
        result: transfer,
        writes: { ...emptyWriteSet(), accounts: session.changedAccounts(), transfers: [transfer], entries: session.entries },
        audit: [transferAudit(transfer)],
      };
    });
  }

  async transferBatch(key: string, legs: Leg[], idem: Idempotency<{ batchId: string; transfers: Transfer[] }>) {
    for (const [i, leg] of legs.entries()) {
      try {
        checkLeg(leg, legNamer(i));
        await checkLegCurrency(this.currencies, leg, legNamer(i));
      } catch (error) {
        throw atLeg(error, i);
      }
    }
    const ids = legs.flatMap((l) => [l.debitAccountId, l.creditAccountId]);
    return this.mutations.runOnAccounts(idem, ids, (locked, now) => {
      const session = new PostingSession(locked, now);
      const batchId = uuidv7(now.getTime());
      const transfers = legs.map((leg, i) => {
        try {
          return session.post(
            leg,
            { id: uuidv7(now.getTime()), kind: "TRANSFER", idempotencyKey: `${key}#${i}`, batchId, reversesId: null, holdId: null },
            legNamer(i),
            { leg_index: String(i) },
            { mayDebit: idem.context.mayDebit },
          );
        } catch (error) {
          throw atLeg(error, i);
        }
      });
      return {
        result: { batchId, transfers },
        writes: { ...emptyWriteSet(), accounts: session.changedAccounts(), transfers, entries: session.entries },
        audit: [batchAudit(batchId, transfers)],
      };
    });
  }

  reverseTransfer(transferId: string, amount: bigint, memo: string, idem: Idempotency<{ reversal: Transfer; original: Transfer }>) {
    checkId("transfer_id", transferId);
    if (amount < 0n) throw invalidArgument("amount", "must be zero (all that is left) or more");
    return this.mutations.run(idem, async (tx, now) => {
      const original = await tx.lockTransfer(transferId);
      if (!original) throw notFound("transfer_id", `transfer ${transferId}`);
      if (original.kind === "REVERSAL") {
        throw new DomainError(ErrorReason.REVERSAL_EXCEEDS_TRANSFER, "a reversal cannot itself be reversed", "transfer_id");
      }
      const left = original.amount - original.reversedAmount;
      const take = amount === 0n ? left : amount;
      if (take === 0n || take > left) {
        throw new DomainError(ErrorReason.REVERSAL_EXCEEDS_TRANSFER, `only ${left} of transfer ${transferId} is left to reverse`, "amount", {
          remaining: String(left),
        });
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
        audit: [reversalAudit(reversal, updated)],
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
    const transfer = await this.store.findTransfer(by, consistency);
    if (!transfer) throw notFound("id" in by ? "transfer_id" : "idempotency_key", "transfer");
    return transfer;
  }

  async listEntries(accountId: string, range: TimeRange, requestedPageSize: number, pageToken: string): Promise<Page<Entry>> {
    checkId("account_id", accountId);
    const limit = pageSize(requestedPageSize);
    const filters = { listing: "journal", accountId, start: range.start?.toISOString(), end: range.end?.toISOString() };
    // The cursor is the last entry's position; its account version rides along as the token's hint.
    const decoded = decodePageCursor(pageToken, filters);
    const before = decoded && { position: parsePosition(decoded.cursor), version: decoded.hint === null ? null : parsePosition(decoded.hint) };
    await this.getAccount(accountId);
    const rows = await this.store.listEntries(accountId, range, limit + 1, before);
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items, next: rows.length > limit ? encodePageToken(String(last!.position), filters, String(last!.accountVersion)) : "" };
  }

  /** The transfers that touched an account, newest first: one per entry of the account. */
  async listTransfers(accountId: string, range: TimeRange, requestedPageSize: number, pageToken: string): Promise<Page<Transfer>> {
    const entries = await this.listEntries(accountId, range, requestedPageSize, pageToken);
    const byId = new Map((await this.store.findTransfers(entries.items.map((e) => e.transferId))).map((t) => [t.id, t]));
    return { items: entries.items.map((e) => byId.get(e.transferId)!), next: entries.next };
  }

  /**
   * Forgets idempotency keys older than `retentionMs` (at most `limit` per
   * call). Transfers keep their keys for ever on the transfer itself.
   */
  purgeIdempotencyKeys(retentionMs: number, limit: number): Promise<number> {
    return this.store.purgeIdempotencyKeys(new Date(Date.now() - retentionMs), limit);
  }
}
