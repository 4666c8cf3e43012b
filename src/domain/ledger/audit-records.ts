/** What each ledger change records in the Aegis audit log: ids and amounts, never personal data. */
import type { AuditPayload, AuditRecord } from "../audit/types.js";
import type { Hold, Owner, Transfer } from "./types.js";

/** A posted transfer (also each transfer of a group commit). */
export function transferAudit(t: Transfer): AuditRecord {
  return {
    action: "ledger.transfer",
    resourceType: "transfer",
    resourceId: t.id,
    payload: { debit_account_id: t.debitAccountId, credit_account_id: t.creditAccountId, amount: t.amount.toString(), currency: t.currency },
  };
}

/** A batch: one event naming every transfer it posted. */
export function batchAudit(batchId: string, transfers: Transfer[]): AuditRecord {
  return {
    action: "ledger.transfer_batch",
    resourceType: "transfer_batch",
    resourceId: batchId,
    payload: {
      transfers: transfers.map((t) => ({ id: t.id, debit_account_id: t.debitAccountId, credit_account_id: t.creditAccountId, amount: t.amount.toString(), currency: t.currency })),
    },
  };
}

/** A reversal, naming the transfer it compensates. */
export function reversalAudit(reversal: Transfer, original: Transfer): AuditRecord {
  return {
    action: "ledger.transfer.reverse",
    resourceType: "transfer",
    resourceId: reversal.id,
    payload: { reverses_transfer_id: original.id, amount: reversal.amount.toString(), currency: original.currency, reversed_amount: original.reversedAmount.toString() },
  };
}

/** A hold's life: create, capture, void, expire. */
export function holdAudit(action: string, h: Hold, extra: AuditPayload): AuditRecord {
  return {
    action,
    resourceType: "hold",
    resourceId: h.id,
    payload: { debit_account_id: h.debitAccountId, credit_account_id: h.creditAccountId, amount: h.amount.toString(), currency: h.currency, ...extra },
  };
}

/** A new account. */
export function accountCreateAudit(id: string, owner: Owner, currency: string, minBalance: bigint | null, isDefault: boolean): AuditRecord {
  return {
    action: "ledger.account.create",
    resourceType: "account",
    resourceId: id,
    payload: { owner_type: owner.type, owner_id: owner.id, currency, min_balance: minBalance?.toString() ?? null, is_default: isDefault },
  };
}

/** A status change (freeze, unfreeze, close), with the caller's reason. */
export function accountStatusAudit(action: string, id: string, from: string, to: string, reason: string): AuditRecord {
  return { action, resourceType: "account", resourceId: id, payload: { from_status: from, to_status: to, reason } };
}
