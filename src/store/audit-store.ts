/**
 * The audit log's storage. Events are appended by the mutations themselves
 * (the ledger's write statement); this store reads them, seals them into the
 * hash chain and answers the verifier.
 */
import type { Logger } from "pino";
import type { AuditFilter, AuditStore, ChainLink } from "../domain/audit/ports.js";
import type { AuditEvent, AuditPayload } from "../domain/audit/types.js";
import type { AuditEvent as PrismaAuditEvent, AuditSeal as PrismaAuditSeal } from "../generated/prisma/client.js";
import type { Db } from "../lib/prisma.js";
import { emptyWriteSet } from "../domain/ledger/ports.js";
import { PrismaLedgerTx, translateLedgerError } from "./ledger-store.js";
import { runTransaction, type CommitListener, type RetryPolicy } from "./transaction.js";

/** One sealer at a time, across every instance of the service. */
const SEALER_LOCK_ID = 0x41_45_47_49; // "AEGI"

const ZERO = new Uint8Array(32);

/**
 * Committed events not yet sealed, oldest id first. Events below the
 * watermark committed (or rolled back) long ago and are all sealed; above
 * it, an event that committed late (a lower id than sealed ones) is found.
 */
const UNSEALED_WHERE = `
  e.id > coalesce((SELECT s.event_id FROM audit_seals s
                   WHERE s.sealed_at < now() - make_interval(secs => $1::float8 / 1000)
                   ORDER BY s.sealed_at DESC LIMIT 1), 0)
  AND NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_id = e.id)`;

const UNSEALED_SQL = `
  SELECT e.id, e.occurred_at, e.actor, e.action, e.resource_type, e.resource_id, e.request_id, e.idempotency_key, e.payload
  FROM audit_events e WHERE ${UNSEALED_WHERE} ORDER BY e.id LIMIT $2`;

const UNSEALED_PROBE_SQL = `SELECT EXISTS (SELECT 1 FROM audit_events e WHERE ${UNSEALED_WHERE}) AS waiting`;

interface EventRow {
  id: bigint;
  occurred_at: Date;
  actor: string;
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
    action: r.action,
    resourceType: r.resource_type,
    resourceId: r.resource_id,
    requestId: r.request_id,
    idempotencyKey: r.idempotency_key,
    payload: r.payload,
  };
}

function eventOf(e: PrismaAuditEvent & { seal?: PrismaAuditSeal | null }): AuditEvent {
  return {
    id: e.id,
    occurredAt: e.occurredAt,
    actor: e.actor,
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
  /**
   * How far back the sealer looks for events that committed late: at least
   * twice the longest transaction. Default 60 s.
   */
  sealHorizonMs?: number;
  /** Hears each committed append (wakes the sealer). */
  onCommit?: CommitListener;
}

export function createAuditStore(db: Db, options: AuditStoreOptions = {}): AuditStore {
  const horizonMs = options.sealHorizonMs ?? 60_000;
  const include = { seal: true } as const;
  return {
    async append(claim, entry, reply) {
      const out = await runTransaction(
        db,
        async (tx) => {
          const ledgerTx = new PrismaLedgerTx(tx);
          const claimed = await ledgerTx.claim(claim);
          if (claimed.kind === "replay") return { replay: claimed.response };
          const row = await tx.auditEvent.create({
            data: {
              occurredAt: claimed.now,
              actor: entry.actor,
              action: entry.action,
              resourceType: entry.resourceType,
              resourceId: entry.resourceId,
              requestId: entry.requestId,
              idempotencyKey: entry.idempotencyKey,
              payload: entry.payload,
            },
          });
          const event = eventOf(row);
          await ledgerTx.write(emptyWriteSet(), { claim, response: reply(event) });
          return { event };
        },
        { retry: options.retry, logger: options.logger, translate: translateLedgerError },
      );
      if (out.event) options.onCommit?.({ auditEvents: 1, earliestHoldExpiry: null });
      return out;
    },

    async findEvent(id) {
      const row = await db.auditEvent.findUnique({ where: { id }, include });
      return row && eventOf(row);
    },

    async listEvents(filter: AuditFilter, limit, afterId) {
      const rows = await db.auditEvent.findMany({
        where: {
          ...(filter.resourceType ? { resourceType: filter.resourceType } : {}),
          ...(filter.resourceId ? { resourceId: filter.resourceId } : {}),
          ...(filter.actor ? { actor: filter.actor } : {}),
          ...(filter.action ? { action: filter.action } : {}),
          ...(filter.start || filter.end ? { occurredAt: { ...(filter.start ? { gte: filter.start } : {}), ...(filter.end ? { lt: filter.end } : {}) } } : {}),
          ...(afterId !== null ? { id: { gt: afterId } } : {}),
        },
        orderBy: { id: "asc" },
        take: limit,
        include,
      });
      return rows.map(eventOf);
    },

    async seal(limit, hash) {
      // The sealer ticks every 100 ms: when nothing waits, one cheap query and no
      // transaction (over Accelerate, each transaction step is an HTTP round trip).
      const [probe] = await db.$queryRawUnsafe<{ waiting: boolean }[]>(UNSEALED_PROBE_SQL, horizonMs);
      if (!probe!.waiting) return 0;
      return runTransaction(
        db,
        async (tx) => {
          await tx.$executeRawUnsafe("SELECT pg_advisory_xact_lock($1)", SEALER_LOCK_ID);
          const last = await tx.auditSeal.findFirst({ orderBy: { seq: "desc" } });
          // Events below the watermark committed (or rolled back) long ago and are all sealed;
          // above it, an event that committed late (a lower id than sealed ones) is still found.
          const rows = await tx.$queryRawUnsafe<EventRow[]>(UNSEALED_SQL, horizonMs, limit);
          if (rows.length === 0) return 0;
          let prev: Uint8Array = last?.hash ?? ZERO;
          let seq = last?.seq ?? 0n;
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
          // One statement for the batch; hex text arrays keep the parameters cheap to encode.
          await tx.$executeRawUnsafe(
            `INSERT INTO audit_seals (seq, event_id, prev_hash, hash, sealed_at)
             SELECT s, e, decode(p, 'hex'), decode(h, 'hex'), now()
             FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS t(s, e, p, h)`,
            seqs,
            eventIds,
            prevHashes,
            hashes,
          );
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
      const [row] = await db.$queryRawUnsafe<{ count: bigint; oldest: Date | null }[]>(
        `SELECT count(*) AS count, min(e.occurred_at) AS oldest FROM audit_events e WHERE ${UNSEALED_WHERE}`,
        horizonMs,
      );
      return { count: row?.count ?? 0n, oldest: row?.oldest ?? null };
    },
  };
}
