/** Audit events as the domain sees them. */

/** JSON-safe payload: amounts and other int64s are decimal strings. */
export type AuditPayload = { [key: string]: AuditValue };
export type AuditValue = string | number | boolean | null | AuditValue[] | { [key: string]: AuditValue };

/** What a mutation records: the rest (who, when, which request) comes from the call. */
export interface AuditRecord {
  action: string;
  resourceType: string;
  resourceId: string;
  payload: AuditPayload;
}

/** Who made the call; carried from the transport into every event it causes. */
export interface CallContext {
  /** The calling service or principal (`x-actor`), or "unknown". */
  actor: string;
  requestId: string;
}

/** An event ready to be appended. */
export interface AuditEntry extends AuditRecord, CallContext {
  occurredAt: Date;
  idempotencyKey: string | null;
}

/** A stored event, with its seal once sealed. */
export interface AuditEvent extends AuditEntry {
  id: bigint;
  seal: { seq: bigint; prevHash: Uint8Array; hash: Uint8Array; sealedAt: Date } | null;
}

/** The context of work the service does on its own (hold expiry). */
export const SYSTEM_CONTEXT: CallContext = { actor: "system:ledger-of-record", requestId: "" };

export function entryOf(record: AuditRecord, context: CallContext, occurredAt: Date, idempotencyKey: string | null): AuditEntry {
  return { ...record, ...context, occurredAt, idempotencyKey };
}
