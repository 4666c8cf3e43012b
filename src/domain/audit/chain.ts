/**
 * The hash chain, exactly as docs/AUDIT_CHAIN.md documents it for third
 * parties:
 *
 *   hash_n = SHA-256( hash_{n-1} || UTF-8( canonical_json(record_n) ) ),   hash_0 = 32 zero bytes
 *
 *   record_n = { "seq": "<n>", "event_id": "<id>", "occurred_at": "<ISO-8601 UTC, ms>",
 *                "actor", "action", "resource_type", "resource_id", "request_id",
 *                "idempotency_key": <string or null>, "payload": <JSON> }
 *
 * canonical_json: no whitespace; object keys sorted by UTF-16 code units
 * (JavaScript's default sort); strings escaped as JSON.stringify does;
 * integers that may exceed 2^53 (seq, event_id, amounts) are decimal strings.
 */
import { createHash } from "node:crypto";
import type { AuditEvent, AuditValue } from "./types.js";

export const ZERO_HASH = new Uint8Array(32);

export function canonicalJson(value: AuditValue | undefined): string {
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The bytes that are hashed for event `e` at chain position `seq`. */
export function chainRecord(e: Omit<AuditEvent, "seal">, seq: bigint): string {
  return canonicalJson({
    seq: seq.toString(),
    event_id: e.id.toString(),
    occurred_at: e.occurredAt.toISOString(),
    actor: e.actor,
    action: e.action,
    resource_type: e.resourceType,
    resource_id: e.resourceId,
    request_id: e.requestId,
    idempotency_key: e.idempotencyKey,
    payload: e.payload,
    // Present only when given, so events written before it existed hash as they always did.
    ...(e.onBehalfOf === null ? {} : { on_behalf_of: e.onBehalfOf }),
  });
}

export function chainHash(prevHash: Uint8Array, e: Omit<AuditEvent, "seal">, seq: bigint): Uint8Array {
  return createHash("sha256").update(prevHash).update(chainRecord(e, seq), "utf8").digest();
}

export const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
