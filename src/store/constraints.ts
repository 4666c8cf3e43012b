/**
 * PostgreSQL's verdicts that a client caused, by constraint name → the
 * domain error the client is told. One table for every store; anything not
 * named here stays unknown (and reaches the client as INTERNAL).
 */
import { DomainError, ErrorReason } from "../domain/errors.js";
import { dbErrorFacts } from "./db-errors.js";

const BY_CONSTRAINT: Record<string, () => DomainError> = {
  accounts_one_default_per_owner_currency: () =>
    new DomainError(ErrorReason.ALREADY_EXISTS, "the user already has a default account in this currency", "is_default"),
  accounts_one_per_system_role_currency: () =>
    new DomainError(ErrorReason.ALREADY_EXISTS, "this system account already exists in this currency", "owner.system"),
  transfers_idempotency_key_key: () =>
    new DomainError(ErrorReason.IDEMPOTENCY_KEY_REUSED, "idempotency_key was already used by an earlier request", "idempotency_key"),
  holds_idempotency_key_key: () =>
    new DomainError(ErrorReason.IDEMPOTENCY_KEY_REUSED, "idempotency_key was already used by an earlier request", "idempotency_key"),
  accounts_currency_code_fkey: () => new DomainError(ErrorReason.NOT_FOUND, "currency not found", "currency"),
  accounts_available_within_policy: () => new DomainError(ErrorReason.INSUFFICIENT_FUNDS, "insufficient funds", "amount"),
  users_handle_key: () => new DomainError(ErrorReason.ALREADY_EXISTS, "handle is taken", "handle"),
  users_email_lower_key: () => new DomainError(ErrorReason.ALREADY_EXISTS, "email is already registered", "email"),
  external_identities_pkey: () => new DomainError(ErrorReason.ALREADY_EXISTS, "external identity is already linked to a user", "external_identity"),
};

/** The domain error a database failure stands for, or the failure itself when it names nothing a client caused. */
export function translateConstraintError(error: unknown): unknown {
  const facts = dbErrorFacts(error);
  if (!facts) return error;
  const known = facts.constraint === undefined ? undefined : BY_CONSTRAINT[facts.constraint];
  if (known) return known();
  if (facts.sqlState === "22003" || facts.kind === "ValueOutOfRange") {
    return new DomainError(ErrorReason.AMOUNT_OVERFLOW, "an amount or balance would overflow int64", "amount");
  }
  return error;
}
