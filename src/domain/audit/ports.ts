/** What the audit domain needs from storage. */
import type { ClaimOutcome, IdempotencyClaim } from "../idempotency.js";
import type { CallContext } from "../call.js";
import type { AuditEvent, AuditRecord } from "./types.js";

export interface AuditFilter {
  resourceType?: string;
  resourceId?: string;
  actor?: string;
  action?: string;
  start?: Date;
  end?: Date;
}

/**
 * The order of a listing: by id (the order events were written), except
 * with a time range as the only filter, by (occurred_at, id). An event's
 * occurred_at is its transaction's time, which does not follow id order, so
 * no index can read a time range in id order in pages (it would read the
 * whole range each time); an event's time order can.
 */
export function listsByTime(filter: AuditFilter): boolean {
  return (filter.start !== undefined || filter.end !== undefined) && !filter.resourceType && !filter.resourceId && !filter.actor && !filter.action;
}

/** One link of the chain as stored: the seal and its event (null when the event row is gone). */
export interface ChainLink {
  seq: bigint;
  eventId: bigint;
  prevHash: Uint8Array;
  hash: Uint8Array;
  event: Omit<AuditEvent, "seal"> | null;
}

export interface SealHead {
  seq: bigint;
  hash: Uint8Array;
  sealedAt: Date | null;
}

export interface AuditStore {
  /**
   * Appends one event under an idempotency key, stamped with the
   * transaction's time; `reply` builds the stored reply from the event.
   */
  append(
    claim: IdempotencyClaim,
    record: AuditRecord,
    context: CallContext,
    reply: (event: AuditEvent) => Uint8Array,
  ): Promise<{ event?: AuditEvent; replay?: Uint8Array }>;
  findEvent(id: bigint): Promise<AuditEvent | null>;
  /** Up to `limit` events after event `afterId`, in the order `listsByTime` gives. */
  listEvents(filter: AuditFilter, limit: number, afterId: bigint | null): Promise<AuditEvent[]>;
  /** Seals up to `limit` events of finished transactions, in (writing transaction, id) order, as one sealer (advisory lock). Returns how many. */
  seal(limit: number, hash: (prev: Uint8Array, event: Omit<AuditEvent, "seal">, seq: bigint) => Uint8Array): Promise<number>;
  /** Links `fromSeq`.. in order, at most `limit`. */
  readChain(fromSeq: bigint, toSeq: bigint, limit: number): Promise<ChainLink[]>;
  /** The seal at `seq` (for a range's anchor), or null. */
  sealAt(seq: bigint): Promise<SealHead | null>;
  head(): Promise<SealHead>;
  unsealed(): Promise<{ count: bigint; oldest: Date | null }>;
}

export type { ClaimOutcome };
