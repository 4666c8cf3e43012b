/** The Aegis audit log's use cases: append, read, seal, verify, checkpoint. */
import { invalidArgument, notFound } from "../errors.js";
import { checkIdempotencyKey, type Idempotency, type Outcome } from "../idempotency.js";
import { decodePositionCursor, encodePageToken, pageSize } from "../pagination.js";
import { chainHash, hex, ZERO_HASH } from "./chain.js";
import { listsByTime, type AuditFilter, type AuditStore, type SealHead } from "./ports.js";
import type { AuditEvent, AuditPayload } from "./types.js";

/** Largest Append payload, as JSON (the contract's rules cannot measure it: they see a Struct, not its JSON). */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/** Most links one VerifyChain call recomputes (about a second of work here); longer ranges continue from next_sequence. */
export const MAX_VERIFY_EVENTS = 100_000n;
/** Links read per round trip while verifying. */
const VERIFY_PAGE = 2_000;
/**
 * Most bytes of events one ListEvents page holds, counted as their payloads'
 * JSON plus EVENT_BYTES_MAX each: 1 MiB. 500 events of 64 KiB payloads would
 * be 32 MiB, beyond any reply size a client accepts (4 MiB by default in
 * gRPC); such a page ends early and next_page_token continues it.
 */
export const PAGE_BYTES_MAX = 1024 * 1024;
/** An event's bytes besides its payload, at most (ids, names, times, hashes). */
const EVENT_BYTES_MAX = 1024;

export interface Verification {
  ok: boolean;
  checked: bigint;
  firstBrokenSeq: bigint;
  mismatch: "" | "hash" | "previous_hash" | "missing_event" | "sequence_gap";
  expected: string;
  actual: string;
  /** When the range was longer than one call verifies: where to continue; 0 when done (or broken). */
  nextSeq: bigint;
}

export interface Checkpoint extends SealHead {
  unsealedCount: bigint;
  oldestUnsealedAgeMs: bigint;
}

export class AuditLog {
  constructor(private readonly store: AuditStore) {}

  async append(
    record: { action: string; resourceType: string; resourceId: string; payload: AuditPayload },
    idem: Idempotency<AuditEvent>,
  ): Promise<Outcome<AuditEvent>> {
    checkIdempotencyKey(idem.claim.key);
    if (Buffer.byteLength(JSON.stringify(record.payload)) > MAX_PAYLOAD_BYTES) {
      throw invalidArgument("payload", `must be at most ${MAX_PAYLOAD_BYTES} bytes as JSON`);
    }
    const out = await this.store.append(idem.claim, record, idem.context, (e) => idem.encode(e));
    return out.replay ? { replay: out.replay, stored: true } : { result: out.event! };
  }

  async getEvent(id: bigint): Promise<AuditEvent> {
    const event = await this.store.findEvent(id);
    if (!event) throw notFound("id", `event ${id}`);
    return event;
  }

  async listEvents(filter: AuditFilter, requestedPageSize: number, pageToken: string) {
    // The contract's rules bound every filter like the column it matches, order the time
    // range and require resource_type with resource_id.
    const limit = pageSize(requestedPageSize);
    // A page token names its order too: a token of the id order (issued before time-only
    // listings were in time order) is refused for a time-only listing, not misread.
    const fingerprint = { listing: "events", ...filter, start: filter.start?.toISOString(), end: filter.end?.toISOString(), ...(listsByTime(filter) ? { order: "time" } : {}) };
    const cursor = decodePositionCursor(pageToken, fingerprint);
    const rows = await this.store.listEvents(filter, limit + 1, cursor);
    const items = rows.slice(0, fittingCount(rows.slice(0, limit)));
    return { items, next: rows.length > items.length ? encodePageToken(items[items.length - 1]!.id.toString(), fingerprint) : "" };
  }

  /** Seals the next batch of committed events into the chain (the sealer job). */
  seal(limit: number): Promise<number> {
    return this.store.seal(limit, chainHash);
  }

  /**
   * Recomputes the chain from `fromSeq` (its predecessor's stored hash is the
   * anchor; 1 starts from the zero hash) to `toSeq` (0: the head), at most
   * `maxEvents` links per call (0: MAX_VERIFY_EVENTS), and reports the first
   * link that does not verify. When the range is longer, `nextSeq` says where
   * to continue. Stops (throwing the signal's reason) once `signal` aborts.
   */
  async verifyChain(fromSeq: bigint, toSeq: bigint, maxEvents: bigint = 0n, signal?: AbortSignal): Promise<Verification> {
    // A bound on the work of one call, not only an input rule (the contract's rules hold it too).
    if (maxEvents < 0n || maxEvents > MAX_VERIFY_EVENTS) throw invalidArgument("max_events", `must be 0 to ${MAX_VERIFY_EVENTS} (0 means ${MAX_VERIFY_EVENTS})`);
    const budget = maxEvents === 0n ? MAX_VERIFY_EVENTS : maxEvents;
    const from = fromSeq === 0n ? 1n : fromSeq;
    const head = toSeq === 0n ? (await this.store.head()).seq : toSeq;
    if (head !== 0n && from > head) {
      // With to_sequence 0 the range ends at the head, so it is from_sequence that is out of place.
      if (toSeq === 0n) throw invalidArgument("from_sequence", `must not be after the head of the sealed chain (${head}) when to_sequence is 0 (the head)`);
      throw invalidArgument("to_sequence", "must not be before from_sequence");
    }
    const to = head - from + 1n > budget ? from + budget - 1n : head;
    let prev = ZERO_HASH as Uint8Array;
    if (from > 1n) {
      const anchor = await this.store.sealAt(from - 1n);
      if (!anchor) return broken(from - 1n, 0n, "sequence_gap", String(from - 1n), "absent");
      prev = anchor.hash;
    }
    let expectedSeq = from;
    let checked = 0n;
    while (expectedSeq <= to) {
      signal?.throwIfAborted();
      const links = await this.store.readChain(expectedSeq, to, VERIFY_PAGE);
      if (links.length === 0) return broken(expectedSeq, checked, "sequence_gap", String(expectedSeq), "absent");
      for (const link of links) {
        if (link.seq !== expectedSeq) return broken(expectedSeq, checked, "sequence_gap", String(expectedSeq), String(link.seq));
        if (!Buffer.from(link.prevHash).equals(Buffer.from(prev))) return broken(link.seq, checked, "previous_hash", hex(prev), hex(link.prevHash));
        if (!link.event) return broken(link.seq, checked, "missing_event", `event ${link.eventId}`, "absent");
        const recomputed = chainHash(prev, link.event, link.seq);
        if (!Buffer.from(recomputed).equals(Buffer.from(link.hash))) return broken(link.seq, checked, "hash", hex(recomputed), hex(link.hash));
        prev = link.hash;
        expectedSeq++;
        checked++;
      }
    }
    return { ok: true, checked, firstBrokenSeq: 0n, mismatch: "", expected: "", actual: "", nextSeq: to < head ? to + 1n : 0n };
  }

  async checkpoint(): Promise<Checkpoint> {
    const [head, unsealed] = await Promise.all([this.store.head(), this.store.unsealed()]);
    return {
      ...head,
      unsealedCount: unsealed.count,
      oldestUnsealedAgeMs: unsealed.oldest ? BigInt(Math.max(0, Date.now() - unsealed.oldest.getTime())) : 0n,
    };
  }
}

/** How many of `events`, from the first, fit in PAGE_BYTES_MAX (always at least one: a payload is at most 64 KiB). */
function fittingCount(events: AuditEvent[]): number {
  let bytes = 0;
  for (let i = 0; i < events.length; i++) {
    bytes += Buffer.byteLength(JSON.stringify(events[i]!.payload ?? null)) + EVENT_BYTES_MAX;
    if (i > 0 && bytes > PAGE_BYTES_MAX) return i;
  }
  return events.length;
}

function broken(seq: bigint, checked: bigint, mismatch: Verification["mismatch"], expected: string, actual: string): Verification {
  return { ok: false, checked, firstBrokenSeq: seq, mismatch, expected, actual, nextSeq: 0n };
}
