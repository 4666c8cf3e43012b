/** What the connection-loss tests assert after each storm: what clients saw, what the service logged, what the books hold. */
import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "vitest";
import type { TransferRequest } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { infrastructureErrorOf } from "../../src/store/db-errors.js";
import type { Observer, RecordedServer } from "./connection-loss.js";
import { expectBooksBalance, reasonOf, type LedgerClient } from "./ledger.js";

export type TransferInput = Pick<TransferRequest, "idempotencyKey" | "debitAccountId" | "creditAccountId" | "amount">;

/**
 * How a transfer is sent: `Transfer` (one statement per group:
 * `SELECT ledger_post_transfers(…)`, one implicit transaction), or a
 * `TransferBatch` of that one leg (an interactive transaction: BEGIN ·
 * claim the key and lock the accounts · write · COMMIT).
 */
export type Via = "Transfer" | "TransferBatch";

export interface TransferOutcome {
  via: Via;
  request: TransferInput;
  /** The posted transfer's id, when the call answered OK. */
  transferId?: string;
  error?: ConnectError;
}

/** The idempotency key the stored transfer carries: a batch's legs carry `<key>#<index>`. */
export const storedKeyOf = (o: Pick<TransferOutcome, "via" | "request">) =>
  o.via === "TransferBatch" ? `${o.request.idempotencyKey}#0` : o.request.idempotencyKey;

async function post(client: LedgerClient, via: Via, request: TransferInput): Promise<string> {
  if (via === "Transfer") return (await client.transfer(request)).transfer!.id;
  const { idempotencyKey, ...leg } = request;
  const reply = await client.transferBatch({ idempotencyKey, legs: [leg] });
  if (reply.transfers.length !== 1) throw new Error(`a batch of one leg answered ${reply.transfers.length} transfers`);
  return reply.transfers[0]!.id;
}

/**
 * Sends every transfer at once and settles each into its outcome. The
 * handlers are attached at once, so a call failing while the test is busy
 * elsewhere is never an unhandled rejection.
 */
export function sendTransfers(client: LedgerClient, requests: TransferInput[], via: Via = "Transfer"): Promise<TransferOutcome[]> {
  return Promise.all(
    requests.map((request) =>
      post(client, via, request).then(
        (transferId): TransferOutcome => ({ via, request, transferId }),
        (error: unknown): TransferOutcome => ({ via, request, error: ConnectError.from(error) }),
      ),
    ),
  );
}

/** `code/reason` of a failure, e.g. `Unavailable/UNAVAILABLE`. */
export const verdict = (error: ConnectError) => `${Code[error.code]}/${reasonOf(error)}`;

/** Every failure is UNAVAILABLE with reason UNAVAILABLE (never INTERNAL); returns the failed outcomes. */
export function expectOnlyUnavailable(outcomes: { error?: ConnectError }[]): ConnectError[] {
  const failed = outcomes.flatMap((o) => (o.error ? [o.error] : []));
  expect(failed.map(verdict)).toEqual(failed.map(() => "Unavailable/UNAVAILABLE"));
  return failed;
}

/**
 * Nothing the service logged reached a client as INTERNAL, and every error
 * it named as the database's fault was named UNAVAILABLE. Returns (and
 * forgets) the errors logged so far, for the test to look at their shapes.
 */
export function expectLoggedErrorsClassified(server: RecordedServer): unknown[] {
  const logged = server.logged.splice(0);
  expect(logged.filter((l) => /^unhandled error/.test(l.msg)).map((l) => shapeOf(l.err))).toEqual([]);
  const named = logged.filter((l) => l.msg === "database unavailable or too slow");
  expect(named.map((l) => infrastructureErrorOf(l.err)?.reason)).toEqual(named.map(() => "UNAVAILABLE"));
  return named.map((l) => l.err);
}

/**
 * Never half-applied, and a retry is safe: every transfer answered OK is
 * stored once, with the id it was answered with; every failed one is stored
 * `failedStored` times (0: rolled back; 1: committed although the client
 * was not told; "at most once" when the test cannot know); retried with
 * its key (the same way it was sent) it then succeeds, is stored exactly
 * once, and a stored one is replayed with its id; and the books balance.
 */
export async function expectAppliedOnceAfterRetries(
  client: LedgerClient,
  observer: Observer,
  outcomes: TransferOutcome[],
  failedStored: 0 | 1 | "at most once" = "at most once",
): Promise<void> {
  const keys = outcomes.map(storedKeyOf);
  const before = await observer.transfersByKey(keys);
  for (const o of outcomes) {
    const stored = before.get(storedKeyOf(o));
    if (o.transferId) expect(stored, storedKeyOf(o)).toEqual({ count: 1, id: o.transferId });
    else if (failedStored === "at most once") expect(stored?.count ?? 0, storedKeyOf(o)).toBeLessThanOrEqual(1);
    else expect(stored?.count ?? 0, storedKeyOf(o)).toBe(failedStored);
  }
  const failed = outcomes.filter((o) => o.error);
  const retried = (
    await Promise.all((["Transfer", "TransferBatch"] as const).map((via) => sendTransfers(client, failed.filter((o) => o.via === via).map((o) => o.request), via)))
  ).flat();
  expect(retried.filter((r) => r.error).map((r) => verdict(r.error!))).toEqual([]);
  const after = await observer.transfersByKey(keys);
  for (const key of keys) expect(after.get(key)?.count, key).toBe(1);
  for (const r of retried) {
    expect(after.get(storedKeyOf(r))?.id).toBe(r.transferId);
    const earlier = before.get(storedKeyOf(r));
    if (earlier) expect(r.transferId, "the retry replays what was stored").toBe(earlier.id);
  }
  await expectBooksBalance(observer.books);
}

/** The parts of an error that classification may look at, for asserting (and printing) its shape. */
export function shapeOf(error: unknown): Record<string, unknown> {
  if (typeof error !== "object" || error === null) return { value: error };
  const e = error as Record<string, unknown> & { meta?: Record<string, unknown>; cause?: Record<string, unknown> };
  const adapter = ((e.meta?.driverAdapterError as { cause?: Record<string, unknown> } | undefined)?.cause ??
    (e.name === "DriverAdapterError" ? e.cause : undefined)) as Record<string, unknown> | undefined;
  return {
    class: error.constructor?.name,
    ...(e.code !== undefined ? { code: e.code } : {}),
    ...(adapter ? { kind: adapter.kind, originalCode: adapter.originalCode } : {}),
    ...(typeof e.meta?.error === "string" ? { metaError: e.meta.error } : {}),
    message: String(e.message ?? "").trim().split("\n").at(-1),
  };
}
