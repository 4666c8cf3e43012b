/** Rows ⇄ ledger entities: what PostgreSQL returns, and the write set as the JSON the write statement reads. */
import type { WriteSet } from "../domain/ledger/ports.js";
import type { Account, AccountStatus, Entry, Hold, OwnerType, Transfer } from "../domain/ledger/types.js";
import type { Account as PrismaAccount, Entry as PrismaEntry, Hold as PrismaHold, Transfer as PrismaTransfer } from "../generated/prisma/client.js";

/** An account row's own columns, as a raw query returns them. */
export interface AccountColumns {
  id: string;
  owner_type: OwnerType;
  owner_id: string;
  currency_code: string;
  status: AccountStatus;
  min_balance: bigint | null;
  posted: bigint;
  pending_debit: bigint;
  pending_credit: bigint;
  version: bigint;
  label: string;
  is_default: boolean;
  created_at: Date;
  updated_at: Date;
}

/** An account row as locked for a posting: its columns and its owner's status. */
export interface AccountRow extends AccountColumns {
  owner_status: "ACTIVE" | "SUSPENDED" | "DELETED" | null;
}

export function accountOf(r: AccountRow): Account {
  return { ...accountOfColumns(r), ownerStatus: r.owner_status };
}

/** Raw account columns → domain account (without its owner's status). */
export function accountOfColumns(r: AccountColumns): Account {
  return {
    id: r.id,
    owner: { type: r.owner_type, id: r.owner_id },
    currency: r.currency_code,
    status: r.status,
    minBalance: r.min_balance,
    posted: r.posted,
    pendingDebit: r.pending_debit,
    pendingCredit: r.pending_credit,
    version: r.version,
    label: r.label,
    isDefault: r.is_default,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Prisma model row → domain account. */
export function accountOfModel(a: PrismaAccount): Account {
  return {
    id: a.id,
    owner: { type: a.ownerType, id: a.ownerId },
    currency: a.currencyCode,
    status: a.status,
    minBalance: a.minBalance,
    posted: a.posted,
    pendingDebit: a.pendingDebit,
    pendingCredit: a.pendingCredit,
    version: a.version,
    label: a.label,
    isDefault: a.isDefault,
    createdAt: a.createdAt,
    updatedAt: a.updatedAt,
  };
}

export type TransferModel = PrismaTransfer & { entries: { accountId: string; balanceAfter: bigint; accountVersion: bigint }[] };

export function transferOf(t: TransferModel): Transfer {
  const debit = t.entries.find((e) => e.accountId === t.debitAccountId);
  const credit = t.entries.find((e) => e.accountId === t.creditAccountId);
  if (!debit || !credit) throw new Error(`assertion failed: transfer ${t.id} lacks its two entries`);
  return {
    id: t.id,
    kind: t.kind,
    debitAccountId: t.debitAccountId,
    creditAccountId: t.creditAccountId,
    currency: t.currencyCode,
    amount: t.amount,
    idempotencyKey: t.idempotencyKey,
    memo: t.memo,
    batchId: t.batchId,
    reversesId: t.reversesId,
    reversedAmount: t.reversedAmount,
    holdId: t.holdId,
    createdAt: t.createdAt,
    debitBalanceAfter: debit.balanceAfter,
    creditBalanceAfter: credit.balanceAfter,
    debitAccountVersion: debit.accountVersion,
    creditAccountVersion: credit.accountVersion,
  };
}

export const TRANSFER_INCLUDE = { entries: { select: { accountId: true, balanceAfter: true, accountVersion: true } } } as const;

export function holdOf(h: PrismaHold): Hold {
  const { currencyCode, ...rest } = h;
  return { ...rest, currency: currencyCode };
}

export function entryOf(e: PrismaEntry): Entry {
  const { id, ...rest } = e;
  return { position: id, ...rest };
}

/** The write set as JSON records, column names as in the tables (bigints become strings). */
export function writePayload(set: WriteSet) {
  return {
    new_accounts: set.newAccounts.map((x) => ({
      id: x.id,
      owner_type: x.owner.type,
      owner_id: x.owner.id,
      currency_code: x.currency,
      label: x.label,
      is_default: x.isDefault,
      status: x.status,
      min_balance: x.minBalance,
      posted: x.posted,
      pending_debit: x.pendingDebit,
      pending_credit: x.pendingCredit,
      version: x.version,
      created_at: x.createdAt,
      updated_at: x.updatedAt,
    })),
    accounts: set.accounts.map((x) => ({
      id: x.state.id,
      from_version: x.fromVersion,
      status: x.state.status,
      posted: x.state.posted,
      pending_debit: x.state.pendingDebit,
      pending_credit: x.state.pendingCredit,
      version: x.state.version,
      updated_at: x.updatedAt,
    })),
    transfers: set.transfers.map((x) => ({
      id: x.id,
      kind: x.kind,
      debit_account_id: x.debitAccountId,
      credit_account_id: x.creditAccountId,
      currency_code: x.currency,
      amount: x.amount,
      idempotency_key: x.idempotencyKey,
      memo: x.memo,
      batch_id: x.batchId,
      reverses_id: x.reversesId,
      reversed_amount: x.reversedAmount,
      hold_id: x.holdId,
      created_at: x.createdAt,
    })),
    entries: set.entries.map((x) => ({
      transfer_id: x.transferId,
      account_id: x.accountId,
      amount: x.amount,
      balance_after: x.balanceAfter,
      account_version: x.accountVersion,
      created_at: x.createdAt,
    })),
    holds: set.holds.map((x) => ({
      id: x.id,
      debit_account_id: x.debitAccountId,
      credit_account_id: x.creditAccountId,
      currency_code: x.currency,
      amount: x.amount,
      status: x.status,
      captured_amount: x.capturedAmount,
      capture_transfer_id: x.captureTransferId,
      expires_at: x.expiresAt,
      idempotency_key: x.idempotencyKey,
      memo: x.memo,
      created_at: x.createdAt,
      updated_at: x.updatedAt,
    })),
    reversals: set.reversals.map((x) => ({ id: x.transferId, reversed_amount: x.reversedAmount })),
    audit: set.audit.map((x) => ({
      occurred_at: x.occurredAt,
      actor: x.actor,
      on_behalf_of: x.onBehalfOf,
      action: x.action,
      resource_type: x.resourceType,
      resource_id: x.resourceId,
      request_id: x.requestId,
      idempotency_key: x.idempotencyKey,
      payload: x.payload,
    })),
  };
}
