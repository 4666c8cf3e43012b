/** The Aegis audit log's use cases: append, read, seal, verify, checkpoint. */
import { invalidArgument, notFound } from "../errors.js";
import { checkIdempotencyKey, type Idempotency, type Outcome } from "../ledger/ledger.js";
import { decodePageToken, encodePageToken, pageSize } from "../pagination.js";
import { chainHash, hex, ZERO_HASH } from "./chain.js";
import type { AuditFilter, AuditStore, SealHead } from "./ports.js";
import { entryOf, type AuditEvent, type AuditPayload } from "./types.js";

/** Largest Append payload, as JSON. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
const ACTION_PATTERN = /^[a-z0-9._-]{1,64}$/;
/** Links read per round trip while verifying. */
const VERIFY_PAGE = 2_000;

export interface Verification {
  ok: boolean;
  checked: bigint;
  firstBrokenSeq: bigint;
  mismatch: "" | "hash" | "previous_hash" | "missing_event" | "sequence_gap";
  expected: string;
  actual: string;
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
    if (!ACTION_PATTERN.test(record.action)) throw invalidArgument("action", "must be 1 to 64 characters of a-z, 0-9, '.', '_' and '-'");
    if (record.resourceType.length === 0 || record.resourceType.length > 64) throw invalidArgument("resource_type", "must be 1 to 64 characters");
    if (record.resourceId.length > 128) throw invalidArgument("resource_id", "must be at most 128 characters");
    if (Buffer.byteLength(JSON.stringify(record.payload)) > MAX_PAYLOAD_BYTES) {
      throw invalidArgument("payload", `must be at most ${MAX_PAYLOAD_BYTES} bytes as JSON`);
    }
    const out = await this.store.append(idem.claim, entryOf(record, idem.context, new Date(), idem.claim.key), (e) => idem.encode(e));
    return out.replay ? { replay: out.replay } : { result: out.event! };
  }

  async getEvent(id: bigint): Promise<AuditEvent> {
    if (id <= 0n) throw invalidArgument("id", "must be a positive event id");
    const event = await this.store.findEvent(id);
    if (!event) throw notFound("id", `event ${id}`);
    return event;
  }

  async listEvents(filter: AuditFilter, requestedPageSize: number, pageToken: string) {
    if (filter.start && filter.end && filter.start >= filter.end) throw invalidArgument("end_time", "must be after start_time");
    if (filter.resourceId && !filter.resourceType) throw invalidArgument("resource_type", "is required with resource_id");
    const limit = pageSize(requestedPageSize);
    const fingerprint = { ...filter, start: filter.start?.toISOString(), end: filter.end?.toISOString() };
    const cursor = decodePageToken(pageToken, fingerprint);
    if (cursor !== null && !/^\d+$/.test(cursor)) throw invalidArgument("page_token", "is not a token this service issued");
    const rows = await this.store.listEvents(filter, limit + 1, cursor === null ? null : BigInt(cursor));
    const items = rows.slice(0, limit);
    return { items, next: rows.length > limit ? encodePageToken(items[items.length - 1]!.id.toString(), fingerprint) : "" };
  }

  /** Seals the next batch of committed events into the chain (the sealer job). */
  seal(limit: number): Promise<number> {
    return this.store.seal(limit, chainHash);
  }

  /**
   * Recomputes the chain from `fromSeq` (its predecessor's stored hash is the
   * anchor; 1 starts from the zero hash) to `toSeq` (0: the head), and
   * reports the first link that does not verify.
   */
  async verifyChain(fromSeq: bigint, toSeq: bigint): Promise<Verification> {
    if (fromSeq < 0n || toSeq < 0n) throw invalidArgument("from_sequence", "sequence numbers are positive");
    const from = fromSeq === 0n ? 1n : fromSeq;
    const to = toSeq === 0n ? (await this.store.head()).seq : toSeq;
    if (to !== 0n && from > to) throw invalidArgument("to_sequence", "must not be before from_sequence");
    let prev = ZERO_HASH as Uint8Array;
    if (from > 1n) {
      const anchor = await this.store.sealAt(from - 1n);
      if (!anchor) return broken(from - 1n, 0n, "sequence_gap", String(from - 1n), "absent");
      prev = anchor.hash;
    }
    let expectedSeq = from;
    let checked = 0n;
    while (expectedSeq <= to) {
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
    return { ok: true, checked, firstBrokenSeq: 0n, mismatch: "", expected: "", actual: "" };
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

function broken(seq: bigint, checked: bigint, mismatch: Verification["mismatch"], expected: string, actual: string): Verification {
  return { ok: false, checked, firstBrokenSeq: seq, mismatch, expected, actual };
}
