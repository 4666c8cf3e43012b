/**
 * Known-answer vectors for the Aegis audit chain, written by hand from
 * docs/AUDIT_CHAIN.md and independent of src/domain/audit/chain.ts: each
 * record below is the canonical JSON typed out literally (keys sorted by
 * UTF-16 code units, no whitespace, strings as JSON.stringify writes them,
 * `on_behalf_of` only when given), and each hash is SHA-256(previous hash ||
 * UTF-8(record)) with node:crypto, also pinned as hex (computed once with
 * Python's hashlib from the same record text).
 *
 * The sealer and the verifier share `chainHash`, so a field dropped from the
 * chained record would pass every test that only round-trips through it
 * (test/audit/chain.test.ts); these vectors are what catches that.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { chainHash, chainRecord, hex, ZERO_HASH } from "../../../src/domain/audit/chain.js";
import type { AuditEvent } from "../../../src/domain/audit/types.js";

type Event = Omit<AuditEvent, "seal">;

/** A transfer: no `on_behalf_of`; non-ASCII text, escapes, nested keys out of order (one outside the BMP). */
const transfer: Event = {
  id: 1n,
  occurredAt: new Date("2026-11-29T17:42:01.123Z"),
  actor: "spiffe://aevon.os/payments",
  onBehalfOf: null,
  action: "ledger.transfer.create",
  resourceType: "transfer",
  resourceId: "0195f5c2-7d3a-7c4e-9a1b-2c3d4e5f6a7b",
  requestId: "req-7f3a",
  idempotencyKey: "pay-2026-0001",
  payload: {
    memo: 'Café ☕ für Jürgen — "Miete"\n',
    amount: "12345",
    currency: "EUR",
    legs: [{ to: "b", from: "a" }],
    // UTF-16 order: "Z" < "a" < "é" < "😀" (U+D83D…) < "ｚ" (U+FF5A); by code point "ｚ" would come before "😀".
    meta: { "ｚ": 1, "😀": 2, Z: 3, a: null, "é": true },
  },
};

/** An Append on someone's behalf: `on_behalf_of` present, no idempotency key, nested objects and arrays. */
const onBehalf: Event = {
  id: 42n,
  occurredAt: new Date("2026-11-29T17:42:01.500Z"),
  actor: "anonymous",
  onBehalfOf: "aegis",
  action: "aegis.login.failed",
  resourceType: "session",
  resourceId: "s-1",
  requestId: "req-aegis-1",
  idempotencyKey: null,
  payload: { ip_class: "tor", attempts: 3, nested: { b: { d: [3, 2, 1], c: "ü" }, a: [] } },
};

/** The service's own work: empty request id, empty payload, a whole second. */
const expiry: Event = {
  id: 43n,
  occurredAt: new Date("2026-12-31T23:59:59.000Z"),
  actor: "system:ledger-of-record",
  onBehalfOf: null,
  action: "ledger.hold.expire",
  resourceType: "hold",
  resourceId: "0195f5c2-0000-7000-8000-000000000001",
  requestId: "",
  idempotencyKey: null,
  payload: {},
};

const vectors = [
  {
    name: "a transfer, without on_behalf_of",
    event: transfer,
    seq: 1n,
    record: String.raw`{"action":"ledger.transfer.create","actor":"spiffe://aevon.os/payments","event_id":"1","idempotency_key":"pay-2026-0001","occurred_at":"2026-11-29T17:42:01.123Z","payload":{"amount":"12345","currency":"EUR","legs":[{"from":"a","to":"b"}],"memo":"Café ☕ für Jürgen — \"Miete\"\n","meta":{"Z":3,"a":null,"é":true,"😀":2,"ｚ":1}},"request_id":"req-7f3a","resource_id":"0195f5c2-7d3a-7c4e-9a1b-2c3d4e5f6a7b","resource_type":"transfer","seq":"1"}`,
    hash: "643ca1f10068ea850b771170d8e48cbf18df625440ccc875d2c85aa1b742e980",
  },
  {
    name: "an append with on_behalf_of",
    event: onBehalf,
    seq: 2n,
    record: String.raw`{"action":"aegis.login.failed","actor":"anonymous","event_id":"42","idempotency_key":null,"occurred_at":"2026-11-29T17:42:01.500Z","on_behalf_of":"aegis","payload":{"attempts":3,"ip_class":"tor","nested":{"a":[],"b":{"c":"ü","d":[3,2,1]}}},"request_id":"req-aegis-1","resource_id":"s-1","resource_type":"session","seq":"2"}`,
    hash: "e0aaf19537320fc9a557385bf5990faf3eed3593a9b43cb9fc39abcd643cbfb2",
  },
  {
    name: "a hold expiry by the service",
    event: expiry,
    seq: 3n,
    record: String.raw`{"action":"ledger.hold.expire","actor":"system:ledger-of-record","event_id":"43","idempotency_key":null,"occurred_at":"2026-12-31T23:59:59.000Z","payload":{},"request_id":"","resource_id":"0195f5c2-0000-7000-8000-000000000001","resource_type":"hold","seq":"3"}`,
    hash: "e328932a10ff322218bee5cbb26b6dc002312f08e6e1f5bdcc83efc69176792a",
  },
];

/** hash_n = SHA-256(hash_{n-1} || UTF-8(record_n)), by node:crypto alone. */
const sha256Hex = (prevHex: string, record: string) =>
  createHash("sha256").update(Buffer.from(prevHex, "hex")).update(Buffer.from(record, "utf8")).digest("hex");

describe("the audit chain's known answers (docs/AUDIT_CHAIN.md)", () => {
  it("the pinned hashes are SHA-256 of the hand-written records, chained from 32 zero bytes", () => {
    let prev = "00".repeat(32);
    for (const v of vectors) {
      expect(sha256Hex(prev, v.record), v.name).toBe(v.hash);
      prev = v.hash;
    }
  });

  it.each(vectors)("chainRecord writes exactly the documented bytes: $name", ({ event, seq, record }) => {
    expect(chainRecord(event, seq)).toBe(record);
  });

  it("chainHash chains the three events to exactly the pinned hashes", () => {
    let prev: Uint8Array = ZERO_HASH;
    for (const v of vectors) {
      const hash = chainHash(prev, v.event, v.seq);
      expect(hex(hash), v.name).toBe(v.hash);
      prev = hash;
    }
  });

  it("every documented field is in the chained record: changing one changes the hash", () => {
    const changed: Partial<Event>[] = [
      { actor: "mallory" },
      { onBehalfOf: "someone-else" },
      { requestId: "req-other" },
      { idempotencyKey: "other-key" },
      { resourceId: "s-2" },
      { resourceType: "sessions" },
      { action: "aegis.login.ok" },
      { occurredAt: new Date("2026-11-29T17:42:01.501Z") },
      { id: 43n },
      { payload: { ...onBehalf.payload, attempts: 4 } },
    ];
    const prev = Buffer.from(vectors[0]!.hash, "hex");
    const unchanged = hex(chainHash(prev, onBehalf, 2n));
    for (const change of changed) {
      expect(hex(chainHash(prev, { ...onBehalf, ...change }, 2n)), JSON.stringify(Object.keys(change))).not.toBe(unchanged);
    }
    expect(hex(chainHash(prev, onBehalf, 3n)), "seq").not.toBe(unchanged);
    expect(hex(chainHash(ZERO_HASH, onBehalf, 2n)), "prev_hash").not.toBe(unchanged);
  });
});
