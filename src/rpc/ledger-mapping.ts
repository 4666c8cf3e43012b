/** Protobuf ⇄ ledger domain. Pure data mapping; no rules live here. */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ts } from "./time.js";
import { unreachable } from "./validation.js";
import type { Balances } from "../domain/ledger/commands.js";
import type { Account, AccountStatus, Entry, Hold, HoldStatus, Owner, SystemRole, Transfer, TransferKind } from "../domain/ledger/types.js";
import {
  AccountStatus as PbAccountStatus,
  HoldStatus as PbHoldStatus,
  SystemAccount,
  TransferKind as PbTransferKind,
  type AccountOwner,
  type AccountSchema,
  type BalanceSchema,
  type EntrySchema,
  type HoldSchema,
  type TransferSchema,
} from "../gen/aevon/ledger/v1/ledger_pb.js";

const ROLE_OF_SYSTEM: Record<number, SystemRole> = {
  [SystemAccount.ISSUANCE]: "issuance",
  [SystemAccount.TREASURY]: "treasury",
  [SystemAccount.FEES]: "fees",
  [SystemAccount.EXTERNAL_SETTLEMENT]: "external_settlement",
};
const SYSTEM_OF_ROLE = Object.fromEntries(Object.entries(ROLE_OF_SYSTEM).map(([k, v]) => [v, Number(k)])) as Record<SystemRole, SystemAccount>;

export function ownerFromProto(field: string, owner: AccountOwner | undefined): Owner | undefined {
  if (!owner || owner.owner.case === undefined) return undefined;
  if (owner.owner.case === "userId") return { type: "USER", id: owner.owner.value };
  const role = ROLE_OF_SYSTEM[owner.owner.value];
  if (!role) return unreachable(`${field}.system: enum.defined_only, enum.not_in`);
  return { type: "SYSTEM", id: role };
}

function ownerToProto(owner: Owner): MessageInitShape<typeof import("../gen/aevon/ledger/v1/ledger_pb.js").AccountOwnerSchema> {
  return owner.type === "USER"
    ? { owner: { case: "userId", value: owner.id } }
    : { owner: { case: "system", value: SYSTEM_OF_ROLE[owner.id as SystemRole] } };
}

const STATUS_TO_PROTO: Record<AccountStatus, PbAccountStatus> = {
  ACTIVE: PbAccountStatus.ACTIVE,
  FROZEN: PbAccountStatus.FROZEN,
  CLOSED: PbAccountStatus.CLOSED,
};

export function statusFromProto(status: PbAccountStatus): AccountStatus | undefined {
  if (status === PbAccountStatus.UNSPECIFIED) return undefined;
  const found = (Object.keys(STATUS_TO_PROTO) as AccountStatus[]).find((k) => STATUS_TO_PROTO[k] === status);
  if (!found) return unreachable("status: enum.defined_only");
  return found;
}

const KIND_TO_PROTO: Record<TransferKind, PbTransferKind> = {
  TRANSFER: PbTransferKind.TRANSFER,
  HOLD_CAPTURE: PbTransferKind.HOLD_CAPTURE,
  REVERSAL: PbTransferKind.REVERSAL,
};

const HOLD_STATUS_TO_PROTO: Record<HoldStatus, PbHoldStatus> = {
  PENDING: PbHoldStatus.PENDING,
  CAPTURED: PbHoldStatus.CAPTURED,
  VOIDED: PbHoldStatus.VOIDED,
  EXPIRED: PbHoldStatus.EXPIRED,
};


function balanceOf(a: { posted: bigint; pendingDebit: bigint; pendingCredit: bigint }): MessageInitShape<typeof BalanceSchema> {
  return { posted: a.posted, pendingDebits: a.pendingDebit, pendingCredits: a.pendingCredit, available: a.posted - a.pendingDebit };
}

export function accountToProto(a: Account): MessageInitShape<typeof AccountSchema> {
  return {
    id: a.id,
    owner: ownerToProto(a.owner),
    currency: a.currency,
    status: STATUS_TO_PROTO[a.status],
    policy:
      a.minBalance === null
        ? { allowNegative: true }
        : a.minBalance === 0n
          ? { allowNegative: false }
          : { allowNegative: true, overdraftLimit: -a.minBalance },
    balance: balanceOf(a),
    version: a.version,
    label: a.label,
    isDefault: a.isDefault,
    createTime: ts(a.createdAt),
    updateTime: ts(a.updatedAt),
  };
}

export function balancesToProto(b: Balances): MessageInitShape<typeof BalanceSchema> {
  return { posted: b.posted, pendingDebits: b.pendingDebit, pendingCredits: b.pendingCredit, available: b.available };
}

export function transferToProto(t: Transfer): MessageInitShape<typeof TransferSchema> {
  return {
    id: t.id,
    kind: KIND_TO_PROTO[t.kind],
    debitAccountId: t.debitAccountId,
    creditAccountId: t.creditAccountId,
    currency: t.currency,
    amount: t.amount,
    idempotencyKey: t.idempotencyKey ?? "",
    memo: t.memo,
    batchId: t.batchId ?? "",
    reversesTransferId: t.reversesId ?? "",
    reversedAmount: t.reversedAmount,
    holdId: t.holdId ?? "",
    createTime: ts(t.createdAt),
    debitBalanceAfter: t.debitBalanceAfter,
    creditBalanceAfter: t.creditBalanceAfter,
    debitAccountVersion: t.debitAccountVersion,
    creditAccountVersion: t.creditAccountVersion,
  };
}

export function holdToProto(h: Hold): MessageInitShape<typeof HoldSchema> {
  return {
    id: h.id,
    debitAccountId: h.debitAccountId,
    creditAccountId: h.creditAccountId,
    currency: h.currency,
    amount: h.amount,
    status: HOLD_STATUS_TO_PROTO[h.status],
    capturedAmount: h.capturedAmount,
    expireTime: ts(h.expiresAt),
    idempotencyKey: h.idempotencyKey,
    memo: h.memo,
    captureTransferId: h.captureTransferId ?? "",
    createTime: ts(h.createdAt),
    updateTime: ts(h.updatedAt),
  };
}

export function entryToProto(e: Entry): MessageInitShape<typeof EntrySchema> {
  return {
    position: e.position,
    transferId: e.transferId,
    accountId: e.accountId,
    amount: e.amount,
    balanceAfter: e.balanceAfter,
    accountVersion: e.accountVersion,
    createTime: ts(e.createdAt),
  };
}
