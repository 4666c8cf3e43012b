/** What the audit domain needs from storage. */
import type { IdempotencyClaim, ClaimOutcome } from "../ledger/ports.js";
import type { AuditEntry, AuditEvent } from "./types.js";

export interface AuditFilter {
  resourceType?: string;
  resourceId?: string;
  actor?: string;
  action?: string;
  start?: Date;
  end?: Date;
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
  /** Appends one event under an idempotency key; `reply` builds the stored reply from the event. */
  append(claim: IdempotencyClaim, entry: AuditEntry, reply: (event: AuditEvent) => Uint8Array): Promise<{ event?: AuditEvent; replay?: Uint8Array }>;
  findEvent(id: bigint): Promise<AuditEvent | null>;
  listEvents(filter: AuditFilter, limit: number, afterId: bigint | null): Promise<AuditEvent[]>;
  /** Seals up to `limit` unsealed events, in id order, as one sealer (advisory lock). Returns how many. */
  seal(limit: number, hash: (prev: Uint8Array, event: Omit<AuditEvent, "seal">, seq: bigint) => Uint8Array): Promise<number>;
  /** Links `fromSeq`.. in order, at most `limit`. */
  readChain(fromSeq: bigint, toSeq: bigint, limit: number): Promise<ChainLink[]>;
  /** The seal at `seq` (for a range's anchor), or null. */
  sealAt(seq: bigint): Promise<SealHead | null>;
  head(): Promise<SealHead>;
  unsealed(): Promise<{ count: bigint; oldest: Date | null }>;
}

export type { ClaimOutcome };
