/**
 * What the core reports for metrics, as plain calls: the domain, its stores
 * and the RPC layer say what happened, and src/server/metrics decides how it
 * is counted. No I/O here; every method must be cheap and must not throw.
 */

/** Why a whole transaction was run again. */
export type RetryCause = "serialization_failure" | "deadlock" | "write_conflict";

export interface Observer {
  /** A transaction conflicted and is retried (each retry once, not the attempt that gave up). */
  transactionRetried(cause: RetryCause): void;
  /** A transfer group left the queue for the database: its size and how long each member waited in the queue, in seconds. */
  transferGroupStarted(size: number, waitsSeconds: readonly number[]): void;
  /** A call with an idempotency key was answered from the stored outcome of an earlier one: its reply, or its refusal. */
  idempotencyReplayed(method: string, kind: "reply" | "refusal"): void;
}

/** Observes nothing: the default wherever no metrics are kept. */
export const NO_OBSERVER: Observer = {
  transactionRetried() {},
  transferGroupStarted() {},
  idempotencyReplayed() {},
};
