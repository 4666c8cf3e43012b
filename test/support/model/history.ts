/**
 * What the model test saw: every operation with its key, the accounts and
 * users it touches, each attempt's answer and the key's final outcome; and
 * the reference model built from acknowledged outcomes only (replies the
 * service gave), which predicts every balance.
 */
import { Code } from "@connectrpc/connect";
import type { Transfer } from "../../../src/gen/aevon/ledger/v1/ledger_pb.js";

export type OpKind =
  | "createUser"
  | "createAccount"
  | "fund"
  | "transfer"
  | "batch"
  | "holdCreate"
  | "holdCapture"
  | "holdVoid"
  | "reverse"
  | "freeze"
  | "unfreeze"
  | "suspend"
  | "reactivate";

/** A final answer: a reply (as canonical JSON, to compare replays) or a refusal. */
export type Final = { ok: true; json: string } | { ok: false; code: string; reason?: string; message: string };

export interface Attempt {
  target: string;
  /** The client deadline of this attempt, when it was a deliberately short one. */
  shortDeadlineMs?: number;
  /** `OK`, or the code and reason answered. */
  answer: string;
}

export interface OpRecord {
  n: number;
  worker: number;
  kind: OpKind;
  key: string;
  /** Accounts the operation touches (for the minimal history of a failure). */
  accounts: string[];
  users: string[];
  /** The request, abbreviated. */
  summary: string;
  attempts: Attempt[];
  final?: Final;
}

export interface Counts {
  operations: number;
  attempts: number;
  /** Attempts re-sent with the same key and payload after an unknown outcome. */
  retries: number;
  /** Replays of a decided key (same payload): each must answer the first outcome. */
  replays: number;
  /** Same key, changed payload: each must be refused IDEMPOTENCY_KEY_REUSED. */
  reusedKeyProbes: number;
  /** Two attempts of one key sent at once (to two targets when there are several). */
  races: number;
  /** Attempts given a deliberately short client deadline. */
  shortDeadlines: number;
  /** Unknown outcomes seen (DEADLINE_EXCEEDED, UNAVAILABLE, CANCELLED, ABORTED RETRIES_EXHAUSTED or a reset connection, RESOURCE_EXHAUSTED). */
  unknownOutcomes: number;
  /** Faults injected by the test (kills, restarts). */
  faults: number;
  succeeded: number;
  refused: number;
  /** Operations still without a final outcome when the run gave up on them. */
  unresolved: number;
  /** Refusals by reason. */
  refusals: Record<string, number>;
}

export const newCounts = (): Counts => ({
  operations: 0,
  attempts: 0,
  retries: 0,
  replays: 0,
  reusedKeyProbes: 0,
  races: 0,
  shortDeadlines: 0,
  unknownOutcomes: 0,
  faults: 0,
  succeeded: 0,
  refused: 0,
  unresolved: 0,
  refusals: {},
});

/** The codes after which nothing is known: the same key must be sent again. */
export function isUnknownOutcome(code: Code, reason: string | undefined): boolean {
  return (
    code === Code.DeadlineExceeded ||
    code === Code.Unavailable ||
    code === Code.Canceled ||
    code === Code.ResourceExhausted ||
    // ABORTED from the service always names its reason; without one it is the client's own
    // reading of a reset connection (connect-node maps ECONNRESET to ABORTED): nothing is known.
    (code === Code.Aborted && (reason === "RETRIES_EXHAUSTED" || reason === undefined))
  );
}

export interface ModelHold {
  id: string;
  debit: string;
  credit: string;
  amount: bigint;
  /** What the acknowledged answers say happened to it. */
  fate: "pending" | "captured" | "voided";
}

/** The reference model: effects of acknowledged successes only. */
export class ReferenceModel {
  /** Every transfer a reply carried (plain, batch leg, capture, reversal), by id. */
  readonly transfers = new Map<string, Pick<Transfer, "id" | "debitAccountId" | "creditAccountId" | "amount" | "kind">>();
  readonly holds = new Map<string, ModelHold>();
  /** Plain transfers that may be reversed. */
  readonly reversible: string[] = [];

  recordTransfer(t: Transfer | undefined, reversible: boolean): void {
    if (!t) return;
    if (!this.transfers.has(t.id) && reversible) this.reversible.push(t.id);
    this.transfers.set(t.id, { id: t.id, debitAccountId: t.debitAccountId, creditAccountId: t.creditAccountId, amount: t.amount, kind: t.kind });
  }

  /** Predicted change of each account's posted balance. */
  postedDeltas(): Map<string, bigint> {
    const delta = new Map<string, bigint>();
    const add = (id: string, v: bigint) => delta.set(id, (delta.get(id) ?? 0n) + v);
    for (const t of this.transfers.values()) {
      add(t.debitAccountId, -t.amount);
      add(t.creditAccountId, t.amount);
    }
    return delta;
  }
}

/** The operations touching any of `accounts` (or `users`), oldest first: the minimal history of a failure. */
export function historyOf(ops: readonly OpRecord[], accounts: readonly string[], users: readonly string[] = [], limit = 80): string {
  const a = new Set(accounts);
  const u = new Set(users);
  const touching = ops.filter((op) => op.accounts.some((x) => a.has(x)) || op.users.some((x) => u.has(x)));
  const lines = touching.slice(-limit).map((op) => {
    const attempts = op.attempts.map((t) => `${t.target}${t.shortDeadlineMs !== undefined ? `(${t.shortDeadlineMs}ms)` : ""}:${t.answer}`).join(" ");
    const final = op.final === undefined ? "UNRESOLVED" : op.final.ok ? "OK" : `${op.final.code}/${op.final.reason ?? ""} ${op.final.message}`;
    return `  #${op.n} w${op.worker} ${op.kind} key=${op.key} ${op.summary} | ${attempts} => ${final}`;
  });
  const skipped = touching.length - lines.length;
  return (skipped > 0 ? [`  … ${skipped} earlier operations`] : []).concat(lines).join("\n");
}
