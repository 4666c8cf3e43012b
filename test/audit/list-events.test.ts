/**
 * ListEvents: its filters, its two orders and its page tokens. With a time
 * range as the only filter, events come in time order (occurred_at, then
 * id); with a resource, actor or action, in id order. An event's time is its
 * transaction's, which does not follow id order: the events here are written
 * straight into the table with times out of id order, in the year 2001 where
 * no other event is.
 */
import { randomUUID } from "node:crypto";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { beforeAll, describe, expect, it } from "vitest";
import { encodePageToken } from "../../src/domain/pagination.js";
import { AuditService, type AuditEvent } from "../../src/gen/aevon/audit/v1/audit_pb.js";
import { expectFailure, key, useLedgerServer } from "../support/ledger.js";
import { shiftNanos } from "../support/timestamps.js";

const ctx = useLedgerServer();
let audit: ReturnType<typeof createClient<typeof AuditService>>;
beforeAll(() => {
  audit = createClient(AuditService, createGrpcTransport({ baseUrl: `http://${ctx.server.grpcAddress}` }));
});

const T0 = Date.UTC(2001, 0, 1);
/** Seconds after T0 of each event, in id order: out of order, with one tie. */
const OFFSETS = [5, 1, 3, 3, 0, 9, 2, 7, 4];

/** Writes the events in id order (one statement, ids in array order); returns their ids. */
async function writeEvents(actor: string, action: string): Promise<bigint[]> {
  const { rows } = await ctx.server.database.sql<{ id: string }>(
    `INSERT INTO audit_events (occurred_at, actor, action, resource_type, resource_id, request_id, payload)
     SELECT to_timestamp($1::double precision / 1000) + s * interval '1 second', $2, $3, 'test', n::text, '', '{}'::jsonb
     FROM unnest($4::int[]) WITH ORDINALITY AS o (s, n) ORDER BY n RETURNING id`,
    [T0, actor, action, OFFSETS],
  );
  return rows.map((r) => BigInt(r.id)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

type Filter = Parameters<typeof audit.listEvents>[0];

async function pages(filter: Filter, pageSize: number): Promise<AuditEvent[]> {
  const seen: AuditEvent[] = [];
  let pageToken = "";
  do {
    const page = await audit.listEvents({ ...filter, pageSize, pageToken });
    expect(page.events.length).toBeLessThanOrEqual(pageSize);
    seen.push(...page.events);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return seen;
}

const at = (seconds: number) => timestampFromDate(new Date(T0 + seconds * 1000));
const secondsOf = (e: AuditEvent) => (timestampDate(e.time!).getTime() - T0) / 1000;

describe("ListEvents", () => {
  it("a time range alone: time order (then id), half-open, each event once in pages of any size", async () => {
    const ids = await writeEvents(`lister-${randomUUID()}`, "test.list.time");
    const byTime = ids.map((id, i) => ({ id, s: OFFSETS[i]! })).sort((a, b) => a.s - b.s || (a.id < b.id ? -1 : 1));
    for (const pageSize of [1, 2, 4, 100]) {
      const listed = await pages({ startTime: at(1), endTime: at(7) }, pageSize);
      // 1 ≤ s < 7: the start is in, the end (an event at 7 s) is out.
      expect(listed.map((e) => e.id), `page size ${pageSize}`).toEqual(byTime.filter((e) => e.s >= 1 && e.s < 7).map((e) => e.id));
    }
    expect((await pages({ startTime: at(1), endTime: at(7) }, 100)).map(secondsOf)).toEqual([1, 2, 3, 3, 4, 5]);
    // Nanoseconds count: 1 ns past a stored time starts after it, and ends after it.
    expect((await pages({ startTime: shiftNanos(at(1), 1), endTime: shiftNanos(at(7), 1) }, 100)).map(secondsOf)).toEqual([2, 3, 3, 4, 5, 7]);
    // One bound only (this year's events are all after 2001-01-02).
    expect((await pages({ startTime: at(4), endTime: timestampFromDate(new Date(T0 + 86_400_000)) }, 3)).map(secondsOf)).toEqual([4, 5, 7, 9]);
    expect((await pages({ endTime: at(3) }, 2)).map(secondsOf)).toEqual([0, 1, 2]);
  });

  it("with an actor or an action: id order, the time range as a filter", async () => {
    const actor = `lister-${randomUUID()}`;
    const action = `test.list.${randomUUID().slice(0, 8)}`;
    const ids = await writeEvents(actor, action);
    const inRange = ids.filter((_, i) => OFFSETS[i]! >= 1 && OFFSETS[i]! < 7);
    for (const pageSize of [1, 3, 100]) {
      expect((await pages({ actor }, pageSize)).map((e) => e.id)).toEqual(ids);
      expect((await pages({ action }, pageSize)).map((e) => e.id)).toEqual(ids);
      expect((await pages({ actor, startTime: at(1), endTime: at(7) }, pageSize)).map((e) => e.id)).toEqual(inRange);
      expect((await pages({ action, startTime: at(1), endTime: at(7) }, pageSize)).map((e) => e.id)).toEqual(inRange);
      expect((await pages({ actor, action }, pageSize)).map((e) => e.id)).toEqual(ids);
    }
    expect(await pages({ action: `${action}x` }, 5)).toEqual([]);
  });

  it("a page token is refused under other filters, and a time-only token of the id order (issued before) is refused", async () => {
    await writeEvents(`lister-${randomUUID()}`, "test.list.tokens");
    const range = { startTime: at(0), endTime: at(10) };
    const first = await audit.listEvents({ ...range, pageSize: 2 });
    expect(first.nextPageToken).not.toBe("");
    await expectFailure(audit.listEvents({ ...range, action: "test.list.tokens", pageSize: 2, pageToken: first.nextPageToken }), Code.InvalidArgument, "INVALID_ARGUMENT", "page_token");
    // What the service issued for this listing when it was in id order: the cursor and a fingerprint of the filters alone.
    const before = encodePageToken(String(first.events[1]!.id), { listing: "events", start: timestampDate(range.startTime).toISOString(), end: timestampDate(range.endTime).toISOString() });
    await expectFailure(audit.listEvents({ ...range, pageSize: 2, pageToken: before }), Code.InvalidArgument, "INVALID_ARGUMENT", "page_token");
  });

  it("pages in time order stay stable while events are being appended", async () => {
    const startTime = timestampFromDate(new Date(Date.now() - 1_000));
    const existing: bigint[] = [];
    for (let i = 0; i < 9; i++) existing.push((await audit.append({ idempotencyKey: key(), action: "test.list.live", resourceType: "x", resourceId: String(i) })).event!.id);
    let appending = true;
    let appended = 0;
    const writer = (async () => {
      while (appending) {
        await audit.append({ idempotencyKey: key(), action: "test.list.live", resourceType: "x", resourceId: "more" });
        appended += 1;
      }
    })();
    let seen: AuditEvent[];
    try {
      seen = await pages({ startTime }, 2);
    } finally {
      appending = false;
      await writer;
    }
    expect(appended).toBeGreaterThan(0);
    const seenIds = seen.map((e) => e.id);
    expect(new Set(seenIds).size).toBe(seenIds.length);
    expect(existing.filter((id) => !seenIds.includes(id))).toEqual([]);
    const times = seen.map((e) => timestampDate(e.time!).getTime());
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });
  it("a page of large events ends at about 1 MiB, never above the 4 MiB a reply may take, and the next pages continue it", async () => {
    // 72 payloads of 65,000 characters (about 4.7 MB in all, at the 64 KiB limit each), appended through the service.
    const action = `test.big.${randomUUID().slice(0, 8)}`;
    const appended: bigint[] = [];
    for (let i = 0; i < 72; i++) {
      appended.push((await audit.append({ idempotencyKey: key(), action, resourceType: "blob", resourceId: String(i), payload: { k: "x".repeat(65_000) } })).event!.id);
    }
    const sizes: number[] = [];
    const seen: bigint[] = [];
    let pageToken = "";
    do {
      const page = await audit.listEvents({ action, pageSize: 500, pageToken });
      sizes.push(page.events.length);
      seen.push(...page.events.map((e) => e.id));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen).toEqual(appended);
    // (65,000 + 1,024) bytes an event: 15 make a page of at most 1 MiB.
    expect(sizes).toEqual([15, 15, 15, 15, 12]);
  });
});
