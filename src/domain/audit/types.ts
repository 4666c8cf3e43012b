/** Audit events as the domain sees them. */
import type { CallContext } from "../call.js";

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

/** An event ready to be appended. */
export interface AuditEntry extends AuditRecord {
  /** The caller's principal (or the service itself). */
  actor: string;
  /** Whom the actor said it acted for; null when not given. */
  onBehalfOf: string | null;
  requestId: string;
  occurredAt: Date;
  idempotencyKey: string | null;
}

/** A stored event, with its seal once sealed. */
export interface AuditEvent extends AuditEntry {
  id: bigint;
  seal: { seq: bigint; prevHash: Uint8Array; hash: Uint8Array; sealedAt: Date } | null;
}

export function entryOf(record: AuditRecord, context: CallContext, occurredAt: Date, idempotencyKey: string | null): AuditEntry {
  return { ...record, actor: context.actor, onBehalfOf: context.onBehalfOf, requestId: context.requestId, occurredAt, idempotencyKey };
}
