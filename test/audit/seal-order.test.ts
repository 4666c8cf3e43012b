/**
 * The sealer chains events in (xid, id) order and only those of finished
 * transactions: an event whose transaction began first but commits last is
 * chained before the later transaction's events, never skipped.
 */
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { beforeAll, expect, it } from "vitest";
import { AuditService } from "../../src/gen/aevon/audit/v1/audit_pb.js";
import { key, useLedgerServer } from "../support/ledger.js";
import { until } from "../support/poll.js";

const ctx = useLedgerServer({ AUDIT_SEAL_INTERVAL_MS: "20", AUDIT_SEAL_IDLE_INTERVAL_MS: "20" });
let audit: ReturnType<typeof createClient<typeof AuditService>>;
beforeAll(() => {
  audit = createClient(AuditService, createGrpcTransport({ baseUrl: `http://${ctx.server.grpcAddress}` }));
});

const sealOf = async (id: bigint) =>
  (await ctx.server.database.sql<{ seq: string }>("SELECT seq::text FROM audit_seals WHERE event_id = $1", [id.toString()])).rows[0]?.seq ?? null;

it("an event of a transaction that began first and commits last is sealed first, after its commit", async () => {
  const early = new pg.Client({ connectionString: ctx.server.database.url });
  await early.connect();
  try {
    await early.query("BEGIN");
    const { rows } = await early.query<{ id: string }>(
      "INSERT INTO audit_events (occurred_at, actor, action, resource_type, resource_id, request_id, payload) VALUES (date_trunc('milliseconds', now()), 'test', 'test.early', 'x', '1', '', '{}') RETURNING id",
    );
    const earlyId = BigInt(rows[0]!.id);
    const { event } = await audit.append({ idempotencyKey: key(), action: "test.late", resourceType: "x", resourceId: "2" });
    const lateId = event!.id;
    expect(lateId).toBeGreaterThan(earlyId);

    // While the earlier transaction runs, the later one's event waits (the sealer ticks every 20 ms).
    const waiting = await until(() => audit.checkpoint({}), () => false, 400, 50);
    expect(waiting.unsealedCount).toBeGreaterThanOrEqual(1n);
    expect(await sealOf(lateId)).toBeNull();

    await early.query("COMMIT");
    const sealed = await until(() => audit.checkpoint({}), (c) => c.unsealedCount === 0n, 10_000, 20);
    expect(sealed.unsealedCount).toBe(0n);
    const [earlySeq, lateSeq] = [await sealOf(earlyId), await sealOf(lateId)];
    expect(earlySeq).not.toBeNull();
    expect(BigInt(lateSeq!)).toBe(BigInt(earlySeq!) + 1n);
    expect((await audit.verifyChain({})).ok).toBe(true);
  } finally {
    await early.end();
  }
});
