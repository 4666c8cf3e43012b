/**
 * The ledger's input invariants and how a failing leg is named. The static
 * limits of requests (lengths, patterns, counts, ranges) are rules of the
 * contract (proto/, enforced by src/rpc/validation.ts before any use case
 * runs); what stays here is what the posting and the store rely on: ids in
 * their canonical form, distinct accounts, positive amounts.
 */
import { checkId } from "../checks.js";
import { DomainError, invalidArgument, notFound } from "../errors.js";
import type { CurrencyLookup } from "./currency.js";
import { checkPositiveAmount } from "./money.js";
import type { FieldNamer, Leg } from "./posting.js";
import { SYSTEM_ROLES, type Owner } from "./types.js";

/** Hold lifetime when a request says 0: 7 days. */
export const DEFAULT_HOLD_TIMEOUT_MS = 7 * 24 * 3600 * 1000;
/** Longest hold lifetime: 30 days. */
export const MAX_HOLD_TIMEOUT_MS = 30 * 24 * 3600 * 1000;

export function checkOwner(field: string, owner: Owner | undefined): Owner {
  if (!owner) throw invalidArgument(field, "is required (a user_id or a system role)");
  if (owner.type === "USER") checkId(`${field}.user_id`, owner.id);
  else if (!(SYSTEM_ROLES as readonly string[]).includes(owner.id)) throw invalidArgument(`${field}.system`, "must be a system role");
  return owner;
}

/** Field names of a single transfer (`amount`) or of batch leg `index` (`legs[2].amount`). */
export function legNamer(index: number | null): FieldNamer {
  return index === null ? (field) => field : (field) => `legs[${index}].${field}`;
}

/** Adds a batch leg's index to a failure, so the client knows which leg failed. */
export function atLeg(error: unknown, index: number): unknown {
  if (!(error instanceof DomainError)) return error;
  return new DomainError(error.reason, `legs[${index}]: ${error.message}`, error.field, { ...error.metadata, leg_index: String(index) });
}

/** A leg's invariants: canonical ids, distinct accounts, a positive amount (the posting and PostgreSQL's CHECKs rely on them). */
export function checkLeg(leg: Leg, name: FieldNamer): Leg {
  checkId(name("debit_account_id"), leg.debitAccountId);
  checkId(name("credit_account_id"), leg.creditAccountId);
  if (leg.debitAccountId === leg.creditAccountId) throw invalidArgument(name("credit_account_id"), "must differ from debit_account_id");
  checkPositiveAmount(name("amount"), leg.amount);
  return leg;
}

/** A leg's `currency`, when set, must name a currency that exists (NOT_FOUND), before it is compared with the accounts'. */
export async function checkLegCurrency(currencies: CurrencyLookup, leg: Leg, name: FieldNamer): Promise<void> {
  if (leg.currency !== "" && !(await currencies.exists(leg.currency))) throw notFound(name("currency"), `currency ${leg.currency}`);
}
