/**
 * What a hostile foreign client needs: raw bytes on the gRPC port (grpc-js
 * with identity serializers, so the test controls the wire), raw JSON on the
 * Connect port (like curl), error details decoded from the .proto files, and
 * a fingerprint of the database to prove a refused request changed nothing.
 */
import * as grpc from "@grpc/grpc-js";
import { expect } from "vitest";
import { decodeStatusDetail, errorDetails, failure, type DecodedDetails } from "./foreign-client.js";
import type { TestDatabase } from "./db.js";

/** The outcome of one call, whatever the transport: a gRPC status code (0 = OK), its message and decoded details. */
export interface Answer extends DecodedDetails {
  code: number;
  message: string;
}

/** Sends `bytes` as the request of `path` (`/package.Service/Method`) over a raw grpc-js client. */
export function rawUnary(client: grpc.Client, path: string, bytes: Buffer, metadata = new grpc.Metadata()): Promise<Answer> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      metadata,
      { deadline: Date.now() + 30_000 },
      (err: grpc.ServiceError | null) => {
        if (!err) return resolve({ code: 0, message: "" });
        resolve({ code: err.code, message: err.details, ...errorDetails(err) });
      },
    );
  });
}

/** Connect's code names → gRPC status numbers (the two protocols share codes). */
const CONNECT_CODES: Record<string, number> = Object.fromEntries(
  Object.entries(grpc.status)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => [k.toLowerCase(), v as number]),
);

/**
 * POSTs `body` (raw text, sent byte for byte) to the Connect port as
 * `content-type: application/json`, the way curl would.
 */
export async function connectJson(baseUrl: string, path: string, body: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${baseUrl}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  const text = await res.text();
  if (res.status === 200) return { code: 0, message: "" };
  const json = JSON.parse(text) as { code: string; message?: string; details?: { type: string; value: string }[] };
  const answer: Answer = { code: CONNECT_CODES[json.code] ?? -1, message: json.message ?? "" };
  for (const d of json.details ?? []) Object.assign(answer, decodeStatusDetail(d.type, Buffer.from(d.value, "base64")));
  return answer;
}

/** Asserts INVALID_ARGUMENT naming `field` in the message, ErrorInfo.metadata.field and the BadRequest violation. */
export function expectInvalid(answer: Answer, field: string): void {
  expect({ code: grpc.status[answer.code], field: answer.errorInfo?.metadata.field, violation: answer.badRequest?.fieldViolations[0]?.field }).toEqual({
    code: "INVALID_ARGUMENT",
    field,
    violation: field,
  });
  expect(answer.errorInfo?.reason).toBe("INVALID_ARGUMENT");
  expect(answer.message.startsWith(`${field}: `)).toBe(true);
}

/** A failed call of the proto-loaded client as an Answer. */
export async function answerOf(call: Promise<unknown>): Promise<Answer> {
  const err = await failure(call);
  return { code: err.code, message: err.details, ...errorDetails(err) };
}

/**
 * Every table of the public schema (row count and md5 of its rows in order)
 * and every sequence's position, so an insert rolled back still shows.
 */
export async function fingerprint(db: TestDatabase, exclude: string[] = []): Promise<Record<string, string>> {
  const tables = await db.sql<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
  const out: Record<string, string> = {};
  for (const { name } of tables.rows) {
    if (exclude.includes(name)) continue;
    const row = await db.sql<{ n: string; h: string }>(
      `SELECT count(*)::text AS n, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS h FROM "${name}" t`,
    );
    out[name] = `${row.rows[0]!.n} rows, md5 ${row.rows[0]!.h}`;
  }
  const sequences = await db.sql<{ name: string; last: string | null }>(
    "SELECT sequencename AS name, last_value::text AS last FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1",
  );
  for (const s of sequences.rows) out[`sequence ${s.name}`] = s.last ?? "unused";
  return out;
}

/** Row counts of the tables a write could touch (the sealer's `audit_seals` aside: it runs on its own). */
export async function rowCounts(db: TestDatabase): Promise<Record<string, number>> {
  const tables = ["users", "external_identities", "accounts", "transfers", "entries", "holds", "audit_events", "idempotency_keys"];
  const res = await db.sql<{ t: string; n: string }>(tables.map((t) => `SELECT '${t}' AS t, count(*)::text AS n FROM ${t}`).join(" UNION ALL "));
  return Object.fromEntries(res.rows.map((r) => [r.t, Number(r.n)]));
}

/** Runs `fn` and asserts it changed no row (and, with `keys: false`, ignores idempotency keys that store a final refusal). */
export async function expectNoChange<T>(db: TestDatabase, fn: () => Promise<T>, options: { keys?: boolean } = {}): Promise<T> {
  const before = await rowCounts(db);
  const result = await fn();
  const after = await rowCounts(db);
  if (options.keys === false) {
    delete before.idempotency_keys;
    delete after.idempotency_keys;
  }
  expect(after).toEqual(before);
  return result;
}
