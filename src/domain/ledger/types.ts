/** Ledger entities as the domain sees them. Amounts are bigint minor units. */

export type OwnerType = "USER" | "SYSTEM";
export type AccountStatus = "ACTIVE" | "FROZEN" | "CLOSED";
export type TransferKind = "TRANSFER" | "HOLD_CAPTURE" | "REVERSAL";
export type HoldStatus = "PENDING" | "CAPTURED" | "VOIDED" | "EXPIRED";

/** The system roles through which money enters and leaves the ledger. */
export const SYSTEM_ROLES = ["issuance", "treasury", "fees", "external_settlement"] as const;
export type SystemRole = (typeof SYSTEM_ROLES)[number];

export interface Owner {
  type: OwnerType;
  /** A user id (UUID) or a system role. */
  id: string;
}

/** The balance fields of an account row, as locked inside a transaction. */
export interface AccountState {
  id: string;
  owner: Owner;
  /**
   * The owning user's status, read with the account (null for system
   * accounts). Suspended or deleted users' accounts cannot send.
   */
  ownerStatus?: "ACTIVE" | "SUSPENDED" | "DELETED" | null;
  currency: string;
  status: AccountStatus;
  /** Lowest allowed available balance; null means unbounded. */
  minBalance: bigint | null;
  posted: bigint;
  pendingDebit: bigint;
  pendingCredit: bigint;
  version: bigint;
}

export interface Account extends AccountState {
  label: string;
  isDefault: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface Transfer {
  id: string;
  kind: TransferKind;
  debitAccountId: string;
  creditAccountId: string;
  currency: string;
  amount: bigint;
  idempotencyKey: string | null;
  memo: string;
  batchId: string | null;
  reversesId: string | null;
  reversedAmount: bigint;
  holdId: string | null;
  createdAt: Date;
  debitBalanceAfter: bigint;
  creditBalanceAfter: bigint;
  debitAccountVersion: bigint;
  creditAccountVersion: bigint;
}

export interface Entry {
  /** Journal position. */
  position: bigint;
  transferId: string;
  accountId: string;
  amount: bigint;
  balanceAfter: bigint;
  accountVersion: bigint;
  createdAt: Date;
}

export interface Hold {
  id: string;
  debitAccountId: string;
  creditAccountId: string;
  currency: string;
  amount: bigint;
  status: HoldStatus;
  capturedAmount: bigint;
  captureTransferId: string | null;
  expiresAt: Date;
  idempotencyKey: string;
  memo: string;
  createdAt: Date;
  updatedAt: Date;
}

export function available(account: Pick<AccountState, "posted" | "pendingDebit">): bigint {
  return account.posted - account.pendingDebit;
}
