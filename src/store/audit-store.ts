/**
 * The audit log's storage. Events are appended by the mutations themselves
 * (the ledger's write statement); this store reads them, seals them into the
 * hash chain and answers the verifier.
 */
import type { Logger } from "pino";
import { listsByTime, type AuditFilter, type AuditStore, type ChainLink } from "../domain/audit/ports.js";
import { entryOf, type AuditEvent, type AuditPayload } from "../domain/audit/types.js";
import { throwIfGone } from "../domain/call.js";
import type { AuditEvent as PrismaAuditEvent, AuditSeal as PrismaAuditSeal } from "../generated/prisma/client.js";
import type { Db } from "../lib/prisma.js";
import type { Observer } from "../domain/observer.js";
import { emptyWriteSet } from "../domain/ledger/ports.js";
import { translateConstraintError } from "./constraints.js";
import { INSERT_SEALS_SQL, SEALABLE_BELOW_SQL, SEALABLE_EVENTS_SQL, UNSEALED_PROBE_SQL, UNSEALED_STATS_SQL } from "./audit-sql.js";
import { EVENTS_BY_TIME_SQL } from "./page-sql.js";
import { PrismaWriteTx } from "./write-tx.js";
import { runTransaction, type CommitListener, type RetryPolicy } from "./transaction.js";

/** One sealer at a time, across every instance of the service. */
const SEALER_LOCK_ID = 0x41_45_47_49; // "AEGI"

const ZERO = new Uint8Array(32);

interface EventRow {
  id: bigint;
  occurred_at: Date;
  actor: string;
  on_behalf_of: string | null;
  action: string;
  resource_type: string;
  resource_id: string;
  request_id: string;
  idempotency_key: string | null;
  payload: AuditPayload;
}

function eventOfRow(r: EventRow): Omit<AuditEvent, "seal"> {
  return {
    id: r.id,
    occurredAt: r.occurred_at,
    actor: r.actor,
    onBehalfOf: r.on_behalf_of,
    action: r.action,
    resourceType: r.resource_type,
    resourceId: r.resource_id,
    requestId: r.request_id,
    idempotencyKey: r.idempotency_key,
    payload: r.payload,
  };
}

/** An event row with its seal's columns (NULLs while unsealed), as EVENTS_BY_TIME_SQL returns it. */
interface SealedEventRow extends EventRow {
  seal_seq: bigint | null;
  seal_prev_hash: Uint8Array | null;
  seal_hash: Uint8Array | null;
  seal_sealed_at: Date | null;
}

function eventOfSealedRow(r: SealedEventRow): AuditEvent {
  const seal = r.seal_seq === null ? null : { seq: r.seal_seq, prevHash: r.seal_prev_hash!, hash: r.seal_hash!, sealedAt: r.seal_sealed_at! };
  return { ...eventOfRow(r), seal };
}

function eventOf(e: PrismaAuditEvent & { seal?: PrismaAuditSeal | null }): AuditEvent {
  return {
    id: e.id,
    occurredAt: e.occurredAt,
    actor: e.actor,
    onBehalfOf: e.onBehalfOf,
    action: e.action,
    resourceType: e.resourceType,
    resourceId: e.resourceId,
    requestId: e.requestId,
    idempotencyKey: e.idempotencyKey,
    payload: e.payload as AuditPayload,
    seal: e.seal ? { seq: e.seal.seq, prevHash: e.seal.prevHash, hash: e.seal.hash, sealedAt: e.seal.sealedAt } : null,
  };
}

export interface AuditStoreOptions {
  retry?: RetryPolicy;
  logger?: Logger;
  /** Told each transaction retry (metrics). Default: nobody. */
  observer?: Observer;
  /** Hears each committed append (wakes the sealer). */
  onCommit?: CommitListener;
}

export function createAuditStore(db: Db, options: AuditStoreOptions = {}): AuditStore {
  const include = { seal: true } as const;
  return {
    async append(claim, record, context, reply) {
      throwIfGone(context);
      const out = await runTransaction(
        db,
        async (tx) => {
          const writer = new PrismaWriteTx(tx);
          const claimed = await writer.claim(claim);
          if (claimed.kind === "replay") return { replay: claimed.response };
          if (claimed.kind !== "new") throw new Error("assertion failed: Append stores only replies");
          // Stamped with the transaction's time, like every other write.
          const entry = entryOf(record, context, claimed.now, claim.key);
          const row = await tx.auditEvent.create({
            data: {
              occurredAt: entry.occurredAt,
              actor: entry.actor,
              onBehalfOf: entry.onBehalfOf,
              action: entry.action,
              resourceType: entry.resourceType,
              resourceId: entry.resourceId,
              requestId: entry.requestId,
              idempotencyKey: entry.idempotencyKey,
              payload: entry.payload,
            },
          });
          const event = eventOf(row);
          throwIfGone(context);
          await writer.write(emptyWriteSet(), { claim, response: reply(event) });
          return { event };
        },
        { retry: options.retry, logger: options.logger, observer: options.observer, translate: translateConstraintError },
      );
      if (out.event) options.onCommit?.({ auditEvents: 1, earliestHoldExpiry: null });
      return out;
    },

    async findEvent(id) {
      const row = await db.auditEvent.findUnique({ where: { id }, include });
      return row && eventOf(row);
    },

    async listEvents(filter: AuditFilter, limit, afterId) {
      if (listsByTime(filter)) {
        // A time range alone: (occurred_at, id) order on its index.
        const timed = await db.$queryRawUnsafe<SealedEventRow[]>(EVENTS_BY_TIME_SQL, filter.start ?? null, filter.end ?? null, afterId, limit);
        return timed.map(eventOfSealedRow);
      }
      // Otherwise id order, on the (…, id) index of the first of resource, actor
      // and action given (the primary key when none is). Actor and action are
      // matched as a range (at least and at most the value) and ordered on:
      // the same rows and order as `=`, but only their index delivers that
      // order, so a generic plan, made before the value is known, cannot swap
      // it for a walk of the primary key (it would for a value it guesses
      // common, and a rare one would then read the whole log).
      const leading = filter.resourceType ? null : filter.actor ? "actor" : filter.action ? "action" : null;
      const matches = (column: "actor" | "action", value: string | undefined) =>
        value === undefined ? {} : column === leading ? { [column]: { gte: value, lte: value } } : { [column]: value };
      const rows = await db.auditEvent.findMany({
        where: {
          ...(filter.resourceType ? { resourceType: filter.resourceType } : {}),
          ...(filter.resourceId ? { resourceId: filter.resourceId } : {}),
          ...matches("actor", filter.actor),
          ...matches("action", filter.action),
          ...(filter.start || filter.end ? { occurredAt: { ...(filter.start ? { gte: filter.start } : {}), ...(filter.end ? { lt: filter.end } : {}) } } : {}),
          ...(afterId !== null ? { id: { gt: afterId } } : {}),
        },
        orderBy: leading ? [{ [leading]: "asc" as const }, { id: "asc" as const }] : { id: "asc" },
        take: limit,
        include,
      });
      return rows.map(eventOf);
    },

    async seal(limit, hash) {
      // The sealer ticks every 100 ms: when nothing waits, one cheap query and no
      // transaction (over Accelerate, each transaction step is an HTTP round trip).
      const [probe] = await db.$queryRawUnsafe<{ waiting: boolean }[]>(UNSEALED_PROBE_SQL);
      if (!probe!.waiting) return 0;
      return runTransaction(
        db,
        async (tx) => {
          // One sealer at a time (advisory lock), and the xid below which every writer has finished.
          const [bound] = await tx.$queryRawUnsafe<{ below: string }[]>(SEALABLE_BELOW_SQL, SEALER_LOCK_ID);
          const rows = await tx.$queryRawUnsafe<(EventRow & { last_seq: bigint | null; last_hash: Uint8Array | null })[]>(
            SEALABLE_EVENTS_SQL,
            bound!.below,
            limit,
          );
          if (rows.length === 0) return 0;
          let prev: Uint8Array = rows[0]!.last_hash ?? ZERO;
          let seq = rows[0]!.last_seq ?? 0n;
          const seqs: string[] = [];
          const eventIds: string[] = [];
          const prevHashes: string[] = [];
          const hashes: string[] = [];
          for (const row of rows) {
            seq += 1n;
            const h = hash(prev, eventOfRow(row), seq);
            seqs.push(seq.toString());
            eventIds.push(row.id.toString());
            prevHashes.push(Buffer.from(prev).toString("hex"));
            hashes.push(Buffer.from(h).toString("hex"));
            prev = h;
          }
          await tx.$executeRawUnsafe(INSERT_SEALS_SQL, seqs, eventIds, prevHashes, hashes);
          return rows.length;
        },
        options,
      );
    },

    async readChain(fromSeq, toSeq, limit): Promise<ChainLink[]> {
      const seals = await db.auditSeal.findMany({
        where: { seq: { gte: fromSeq, ...(toSeq > 0n ? { lte: toSeq } : {}) } },
        orderBy: { seq: "asc" },
        take: limit,
      });
      const events = new Map(
        (await db.auditEvent.findMany({ where: { id: { in: seals.map((s) => s.eventId) } } })).map((e) => [e.id, eventOf(e)]),
      );
      return seals.map((s) => ({ seq: s.seq, eventId: s.eventId, prevHash: s.prevHash, hash: s.hash, event: events.get(s.eventId) ?? null }));
    },

    async sealAt(seq) {
      const seal = await db.auditSeal.findUnique({ where: { seq } });
      return seal && { seq: seal.seq, hash: seal.hash, sealedAt: seal.sealedAt };
    },

    async head() {
      const last = await db.auditSeal.findFirst({ orderBy: { seq: "desc" } });
      return last ? { seq: last.seq, hash: last.hash, sealedAt: last.sealedAt } : { seq: 0n, hash: ZERO, sealedAt: null };
    },

    async unsealed() {
      const [row] = await db.$queryRawUnsafe<{ count: bigint; oldest: Date | null }[]>(UNSEALED_STATS_SQL);
      return { count: row?.count ?? 0n, oldest: row?.oldest ?? null };
    },
  };
}
