/**
 * Transfer's one-statement path: `SELECT ledger_post_transfers($1)` (the
 * PL/pgSQL function of migration *_transfer_in_one_statement) and the
 * mapping of what it takes and returns. One round trip per group on every
 * path: direct, embedded and Accelerate.
 */
import { DomainError, REASONS, type ErrorReasonName } from "../domain/errors.js";
import type { StoredOutcome } from "../domain/idempotency.js";
import type { MemberOutcome, TransferMember } from "../domain/ledger/ports.js";
import type { Transfer } from "../domain/ledger/types.js";

export const POST_TRANSFERS_SQL = "SELECT ledger_post_transfers($1::jsonb) AS r";

/** The function's bit for each kind of account a caller may debit. */
const DEBIT_BITS: Record<string, number> = { USER: 1, issuance: 2, treasury: 4, fees: 8, external_settlement: 16 };

/** The function's argument. */
export function postTransfersPayload(scope: string, members: TransferMember[]): string {
  return JSON.stringify({
    scope,
    members: members.map((m) => ({
      key: m.claim.key,
      hash: Buffer.from(m.claim.requestHash).toString("base64"),
      id: m.id,
      debit: m.leg.debitAccountId,
      credit: m.leg.creditAccountId,
      amount: m.leg.amount.toString(),
      currency: m.leg.currency,
      memo: m.leg.memo,
      may_debit: m.debitGrants === null ? null : m.debitGrants.reduce((mask, s) => mask | DEBIT_BITS[s.type === "USER" ? "USER" : s.role]!, 0),
      actor: m.context.actor,
      on_behalf_of: m.context.onBehalfOf,
      request_id: m.context.requestId,
    })),
  });
}

interface TransferJson {
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  currency: string;
  amount: string;
  idempotency_key: string;
  memo: string;
  created_at: string;
  debit_balance_after: string;
  credit_balance_after: string;
  debit_account_version: string;
  credit_account_version: string;
}

interface RefusalJson {
  reason: string;
  message: string;
  field?: string;
  metadata?: Record<string, string>;
}

/** A transfer as the function records it (also in idempotency_keys.outcome). */
export function transferOfJson(t: TransferJson): Transfer {
  return {
    id: t.id,
    kind: "TRANSFER",
    debitAccountId: t.debit_account_id,
    creditAccountId: t.credit_account_id,
    currency: t.currency,
    amount: BigInt(t.amount),
    idempotencyKey: t.idempotency_key,
    memo: t.memo,
    batchId: null,
    reversesId: null,
    reversedAmount: 0n,
    holdId: null,
    createdAt: new Date(t.created_at),
    debitBalanceAfter: BigInt(t.debit_balance_after),
    creditBalanceAfter: BigInt(t.credit_balance_after),
    debitAccountVersion: BigInt(t.debit_account_version),
    creditAccountVersion: BigInt(t.credit_account_version),
  };
}

/** A refusal as the function records it. */
export function refusalOfJson(r: RefusalJson): DomainError {
  if (!(r.reason in REASONS)) throw new Error(`assertion failed: the database refused with an unknown reason ${r.reason}`);
  return new DomainError(r.reason as ErrorReasonName, r.message, r.field, r.metadata ?? {});
}

/** An outcome stored as data: `{ transfer }` or `{ refusal }`. */
export function storedOfJson(outcome: { transfer?: TransferJson; refusal?: RefusalJson }): StoredOutcome {
  if (outcome.transfer) return { kind: "result", result: transferOfJson(outcome.transfer) };
  if (outcome.refusal) return { kind: "error", error: refusalOfJson(outcome.refusal) };
  throw new Error("assertion failed: a stored outcome is neither a transfer nor a refusal");
}

type OutcomeJson =
  | { kind: "new"; transfer: TransferJson }
  | { kind: "refused"; refusal: RefusalJson }
  | { kind: "stored"; response?: string; refusal?: string; outcome?: { transfer?: TransferJson; refusal?: RefusalJson } }
  | { kind: "reused" };

/** The function's result, one outcome per member in order. */
export function outcomesOfResult(result: { outcomes: OutcomeJson[] }, count: number): MemberOutcome[] {
  if (result.outcomes.length !== count) throw new Error(`assertion failed: ${result.outcomes.length} outcomes for ${count} transfers`);
  return result.outcomes.map((o): MemberOutcome => {
    switch (o.kind) {
      case "new":
        return { kind: "new", transfer: transferOfJson(o.transfer) };
      case "refused":
        return { kind: "refused", error: refusalOfJson(o.refusal) };
      case "reused":
        return { kind: "reused" };
      case "stored":
        if (o.response) return { kind: "stored", stored: { kind: "replay", response: Buffer.from(o.response, "base64") } };
        if (o.refusal) return { kind: "stored", stored: { kind: "refused", refusal: Buffer.from(o.refusal, "base64") } };
        if (o.outcome) return { kind: "stored", stored: storedOfJson(o.outcome) };
        throw new Error("assertion failed: a taken key has no outcome");
    }
  });
}
