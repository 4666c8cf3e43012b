/** What the ledger's use cases take and give, apart from its entities (types.ts). */
import type { Leg } from "./posting.js";
import type { Owner } from "./types.js";

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
  /** 0 means the default lifetime. */
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
