/** aevon.audit.v1.AuditService: protobuf in, domain calls, protobuf out. No Prisma here. */
import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { AuditLog } from "../domain/audit/audit-log.js";
import { hex } from "../domain/audit/chain.js";
import type { AuditEvent, AuditPayload } from "../domain/audit/types.js";
import { AppendRequestSchema, AppendResponseSchema, AuditService, type AuditEventSchema } from "../gen/aevon/audit/v1/audit_pb.js";
import { idempotentCall } from "./idempotency.js";
import { ceilDate, ts } from "./time.js";

export function eventToProto(e: AuditEvent): MessageInitShape<typeof AuditEventSchema> {
  return {
    id: e.id,
    sequence: e.seal?.seq ?? 0n,
    time: ts(e.occurredAt),
    actor: e.actor,
    action: e.action,
    resourceType: e.resourceType,
    resourceId: e.resourceId,
    requestId: e.requestId,
    idempotencyKey: e.idempotencyKey ?? "",
    payload: e.payload as JsonObject,
    previousHash: e.seal ? hex(e.seal.prevHash) : "",
    hash: e.seal ? hex(e.seal.hash) : "",
    onBehalfOf: e.onBehalfOf ?? "",
  };
}

export function auditServiceImpl(audit: AuditLog): ServiceImpl<typeof AuditService> {
  return {
    async append(req, ctx) {
      const call = idempotentCall(ctx, "audit.Append", AppendRequestSchema, req, AppendResponseSchema, (e: AuditEvent) => ({ event: eventToProto(e) }));
      const payload = (req.payload ?? {}) as AuditPayload;
      return call.reply(await audit.append({ action: req.action, resourceType: req.resourceType, resourceId: req.resourceId, payload }, call.idem));
    },
    async getEvent(req) {
      return { event: eventToProto(await audit.getEvent(req.id)) };
    },
    async listEvents(req) {
      const page = await audit.listEvents(
        {
          resourceType: req.resourceType || undefined,
          resourceId: req.resourceId || undefined,
          actor: req.actor || undefined,
          action: req.action || undefined,
          start: ceilDate(req.startTime),
          end: ceilDate(req.endTime),
        },
        req.pageSize,
        req.pageToken,
      );
      return { events: page.items.map(eventToProto), nextPageToken: page.next };
    },
    async verifyChain(req, ctx) {
      const v = await audit.verifyChain(req.fromSequence, req.toSequence, req.maxEvents, ctx.signal);
      return {
        ok: v.ok,
        checked: v.checked,
        firstBrokenSequence: v.firstBrokenSeq,
        mismatch: v.mismatch,
        expected: v.expected,
        actual: v.actual,
        nextSequence: v.nextSeq,
      };
    },
    async checkpoint() {
      const c = await audit.checkpoint();
      return {
        sequence: c.seq,
        hash: hex(c.hash),
        sealedTime: c.sealedAt ? ts(c.sealedAt) : undefined,
        unsealedCount: c.unsealedCount,
        oldestUnsealedAgeMs: c.oldestUnsealedAgeMs,
      };
    },
  };
}

export { AuditService };
