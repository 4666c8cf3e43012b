/**
 * The Aegis chain: append-only in the database, sealed shortly after commit,
 * and VerifyChain catches tampering that bypasses the triggers.
 *
 * The sealer and VerifyChain share `chainHash`, so a field left out of the
 * chained record would pass a seal-then-verify round trip. What pins the
 * record to docs/AUDIT_CHAIN.md: the known-answer vectors in
 * test/unit/audit/chain-vectors.test.ts, and below, a sealed event's stored
 * hash recomputed from a record written out by hand.
 */
import { createHash, randomUUID } from "node:crypto";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { beforeAll, describe, expect, it } from "vitest";
import { AuditService } from "../../src/gen/aevon/audit/v1/audit_pb.js";
import { expectFailure, key, useLedgerServer } from "../support/ledger.js";
import { until } from "../support/poll.js";

const ctx = useLedgerServer({ AUDIT_SEAL_INTERVAL_MS: "20", AUDIT_SEAL_BATCH: "10000" });
let audit: ReturnType<typeof createClient<typeof AuditService>>;
beforeAll(() => {
  audit = createClient(AuditService, createGrpcTransport({ baseUrl: `http://${ctx.server.grpcAddress}` }));
});

const allSealed = (budgetMs = 60_000) => until(() => audit.checkpoint({}), (c) => c.unsealedCount === 0n, budgetMs, 50);

/** Runs SQL with the triggers bypassed, as a superuser tampering with the table would. */
const tamper = (sql: string) => ctx.server.database.sql(`SET session_replication_role = replica; ${sql}; RESET session_replication_role`);

describe("Append, GetEvent, ListEvents, Checkpoint", () => {
  it("appends a security event, seals it within a moment, and finds it again", async () => {
    const resourceId = randomUUID();
    const request = { idempotencyKey: key(), action: "aegis.login.failed", resourceType: "session", resourceId, payload: { attempts: 3, ip_class: "tor" } };
    const { event } = await audit.append(request, { headers: { "x-actor": "aegis", "x-request-id": "req-aegis-1" } });
    expect(event).toMatchObject({
      actor: "anonymous",
      onBehalfOf: "aegis",
      action: "aegis.login.failed",
      resourceId,
      requestId: "req-aegis-1",
      payload: { attempts: 3, ip_class: "tor" },
    });
    expect((await audit.append(request, { headers: { "x-actor": "aegis" } })).event).toEqual(event);
    // The payload's keys in another order are the same request: a Struct is a map, and a map's entries have no order on the wire.
    const reordered = { ...request, payload: { ip_class: "tor", attempts: 3 } };
    expect((await audit.append(reordered, { headers: { "x-actor": "aegis" } })).event).toEqual(event);
    // Two encodings of one stored payload more: -0 and 0; no payload and an empty one.
    const zero = { idempotencyKey: key(), action: "aegis.zero", resourceType: "session", resourceId: `${resourceId}-z`, payload: { n: -0 } };
    const first = (await audit.append(zero)).event!;
    expect((await audit.append({ ...zero, payload: { n: 0 } })).event).toEqual(first);
    const bare = { idempotencyKey: key(), action: "aegis.bare", resourceType: "session", resourceId: `${resourceId}-b` };
    const firstBare = (await audit.append(bare)).event!;
    expect((await audit.append({ ...bare, payload: {} })).event).toEqual(firstBare);
    await expectFailure(audit.append({ ...request, resourceId: "other" }), Code.AlreadyExists, "IDEMPOTENCY_KEY_REUSED");

    const started = Date.now();
    const checkpoint = await allSealed();
    expect(checkpoint.unsealedCount).toBe(0n);
    expect(Date.now() - started).toBeLessThan(60_000);
    const sealed = (await audit.getEvent({ id: event!.id })).event!;
    expect(sealed.sequence).toBeGreaterThan(0n);
    expect(sealed.hash).toMatch(/^[0-9a-f]{64}$/);
    const listed = await audit.listEvents({ resourceType: "session", resourceId });
    expect(listed.events.map((e) => e.id)).toEqual([event!.id]);
    await expectFailure(audit.append({ idempotencyKey: key(), action: "Bad Action", resourceType: "x" }), Code.InvalidArgument, "INVALID_ARGUMENT", "action");
    await expectFailure(audit.getEvent({ id: 999_999_999n }), Code.NotFound, "NOT_FOUND", "id");
    // Past the head: from there to the head is no range; up to a number the chain does not hold is not ok.
    const head = (await audit.checkpoint({})).sequence;
    await expectFailure(audit.verifyChain({ fromSequence: head + 1000n }), Code.InvalidArgument, "INVALID_ARGUMENT", "from_sequence");
    expect(await audit.verifyChain({ fromSequence: head, toSequence: head + 2n })).toMatchObject({ ok: false, mismatch: "sequence_gap", firstBrokenSequence: head + 1n });
  });

  it("seals by the documented recipe: the stored hash is SHA-256(prev_hash || a record written out by hand)", async () => {
    const idempotencyKey = key();
    const { event } = await audit.append(
      { idempotencyKey, action: "aegis.recipe", resourceType: "recipe", resourceId: "r-1", payload: { b: "grüß ☕", a: [1, { d: true, c: null }] } },
      { headers: { "x-actor": "aegis", "x-request-id": "req-recipe-1" } },
    );
    await allSealed();
    const { rows } = await ctx.server.database.sql<{ seq: string; prev_hash: Buffer; hash: Buffer; occurred_at: Date }>(
      "SELECT s.seq::text, s.prev_hash, s.hash, e.occurred_at FROM audit_seals s JOIN audit_events e ON e.id = s.event_id WHERE e.id = $1",
      [event!.id.toString()],
    );
    const { seq, prev_hash, hash, occurred_at } = rows[0]!;
    const record =
      `{"action":"aegis.recipe","actor":"anonymous","event_id":"${event!.id}","idempotency_key":"${idempotencyKey}",` +
      `"occurred_at":"${occurred_at.toISOString()}","on_behalf_of":"aegis","payload":{"a":[1,{"c":null,"d":true}],"b":"grüß ☕"},` +
      `"request_id":"req-recipe-1","resource_id":"r-1","resource_type":"recipe","seq":"${seq}"}`;
    expect(createHash("sha256").update(prev_hash).update(Buffer.from(record, "utf8")).digest("hex")).toBe(hash.toString("hex"));
  });

  it("refuses UPDATE, DELETE and TRUNCATE issued by SQL", async () => {
    await audit.append({ idempotencyKey: key(), action: "aegis.test", resourceType: "x", resourceId: "1" });
    for (const sql of ["UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events", "TRUNCATE audit_events CASCADE", "UPDATE audit_seals SET hash = prev_hash", "DELETE FROM audit_seals", "TRUNCATE audit_seals"]) {
      // TRUNCATE's exclusive locks can deadlock with the sealer's transaction; PostgreSQL
      // then aborts one of them before any trigger runs. Only the trigger's verdict counts.
      let message = "";
      for (let attempt = 0; attempt < 10; attempt++) {
        message = await ctx.server.database.sql(sql).then(
          () => "succeeded",
          (error: Error) => error.message,
        );
        if (!/deadlock detected/.test(message)) break;
      }
      expect(message).toMatch(/append-only/);
    }
  });
});

describe("VerifyChain", () => {
  it("verifies 100,000 events, then catches a flipped byte, a deleted row and a reordered pair", { timeout: 240_000 }, async () => {
    await ctx.server.database.sql(`
      INSERT INTO audit_events (occurred_at, actor, action, resource_type, resource_id, request_id, payload)
      SELECT date_trunc('milliseconds', now()), 'bulk-loader', 'test.bulk', 'bulk', g::text, '', jsonb_build_object('n', g::text, 'note', 'ünïcode ✓')
      FROM generate_series(1, 100000) AS g`);
    const head = await allSealed(180_000);
    expect(head.unsealedCount).toBe(0n);
    expect(head.sequence).toBeGreaterThanOrEqual(100_000n);

    // One call verifies at most 100,000 links; a longer range says where to go on.
    const first = await audit.verifyChain({});
    expect(first).toMatchObject({ ok: true, checked: 100_000n, nextSequence: head.sequence > 100_000n ? 100_001n : 0n });
    // A smaller budget walks the same chain in steps, each continuing where the last stopped.
    let from = 1n;
    let checked = 0n;
    for (let step = 0; from !== 0n && step < 5; step++) {
      const part = await audit.verifyChain({ fromSequence: from, toSequence: 40_000n, maxEvents: 15_000n });
      expect(part.ok).toBe(true);
      checked += part.checked;
      from = part.nextSequence;
    }
    expect([checked, from]).toEqual([40_000n, 0n]);
    await expect(audit.verifyChain({ maxEvents: 100_001n })).rejects.toThrow(/max_events/);
    const clean = await audit.verifyChain({ fromSequence: head.sequence > 100_000n ? head.sequence - 99_999n : 1n });
    expect(clean).toMatchObject({ ok: true, nextSequence: 0n });

    const seqEvent = async (seq: number) =>
      (await ctx.server.database.sql<{ event_id: string }>("SELECT event_id::text FROM audit_seals WHERE seq = $1", [seq])).rows[0]!.event_id;

    // 1. A flipped byte in one payload.
    const flipped = await seqEvent(50_000);
    await tamper(`UPDATE audit_events SET payload = jsonb_set(payload, '{n}', '"X"') WHERE id = ${flipped}`);
    expect(await audit.verifyChain({})).toMatchObject({ ok: false, firstBrokenSequence: 50_000n, mismatch: "hash" });
    // A range after the damage still verifies (anchored on the stored hash before it).
    expect(await audit.verifyChain({ fromSequence: 50_001n })).toMatchObject({ ok: true });
    const original = await ctx.server.database.sql<{ resource_id: string }>(`SELECT resource_id FROM audit_events WHERE id = ${flipped}`);
    await tamper(`UPDATE audit_events SET payload = jsonb_set(payload, '{n}', to_jsonb('${original.rows[0]!.resource_id}'::text)) WHERE id = ${flipped}`);
    expect((await audit.verifyChain({})).ok).toBe(true);

    // 2. A deleted event row.
    const deleted = await seqEvent(70_000);
    const saved = (await ctx.server.database.sql(`SELECT * FROM audit_events WHERE id = ${deleted}`)).rows[0]!;
    await tamper(`DELETE FROM audit_events WHERE id = ${deleted}`);
    expect(await audit.verifyChain({})).toMatchObject({ ok: false, firstBrokenSequence: 70_000n, mismatch: "missing_event" });
    await ctx.server.database.sql(
      "INSERT INTO audit_events (id, occurred_at, actor, action, resource_type, resource_id, request_id, idempotency_key, payload) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
      [saved.id, saved.occurred_at, saved.actor, saved.action, saved.resource_type, saved.resource_id, saved.request_id, saved.idempotency_key, saved.payload],
    );
    expect((await audit.verifyChain({})).ok).toBe(true);

    // 3. A reordered pair: two neighbours swap places in the chain.
    const a = await seqEvent(90_000);
    const b = await seqEvent(90_001);
    await tamper(`UPDATE audit_seals SET event_id = -1 WHERE seq = 90000; UPDATE audit_seals SET event_id = ${a} WHERE seq = 90001; UPDATE audit_seals SET event_id = ${b} WHERE seq = 90000`);
    expect(await audit.verifyChain({})).toMatchObject({ ok: false, firstBrokenSequence: 90_000n, mismatch: "hash" });

    // 4. A deleted seal: a gap in the sequence.
    await tamper("DELETE FROM audit_seals WHERE seq = 95000");
    expect(await audit.verifyChain({ fromSequence: 94_000n })).toMatchObject({ ok: false, firstBrokenSequence: 95_000n, mismatch: "sequence_gap" });
  });
});
