/**
 * Runs a unit of work in one `prisma.$transaction` (one transaction for
 * every multi-write workflow: all of it commits or none of it), retrying the
 * whole of it on serialization failures and deadlocks, with a bound and
 * jittered backoff. Canonical lock order makes deadlocks between our own
 * transactions impossible; the retry is the safety net for everything else
 * (other writers, SERIALIZABLE callers, a conflict surfacing at COMMIT).
 */
import type { Logger } from "pino";
import { DomainError, ErrorReason } from "../domain/errors.js";
import type { Db } from "../lib/prisma.js";
import type { CachePolicy } from "./cache-policy.js";
import type { Observer } from "../domain/observer.js";
import { inDatabaseSpan } from "../lib/trace-hooks.js";
import { infrastructureErrorOf, isRetryableConflict, retryCauseOf } from "./db-errors.js";

/** The client an interactive transaction hands its work (the extended client, minus `$transaction` and friends). */
export type TxClient = Parameters<Extract<Parameters<Db["$transaction"]>[0], (...args: never[]) => unknown>>[0];

export interface RetryPolicy {
  /** Attempts in all, first included. Default 8. */
  maxAttempts: number;
  /** First backoff; doubles per attempt, jittered. Default 2 ms. */
  baseDelayMs: number;
  /** Backoff ceiling. Default 100 ms. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 2, maxDelayMs: 100 };

/** What a committed write tells the background jobs (so they need not poll for it). */
export interface CommitFacts {
  /** Audit events written: the sealer has work. */
  auditEvents: number;
  /** The earliest expiry among pending holds written: when the expiry job will have work. */
  earliestHoldExpiry: Date | null;
}

/** Called after each committed write; must not throw. */
export type CommitListener = (facts: CommitFacts) => void;

/** One attempt's side of a write transaction: what it makes stale, and what it wrote. */
export interface WriteSide {
  readonly staleTags: Set<string>;
  commitFacts(): CommitFacts;
}

/**
 * `runTransaction` for a write whose side of the transaction (`open`, made
 * afresh per attempt) collects the cache tags it makes stale; once the
 * transaction has committed, those of the committed attempt are invalidated
 * and `onCommit` hears what it wrote.
 */
export async function runWrite<Side extends WriteSide, T>(
  db: Db,
  cache: Pick<CachePolicy, "invalidate">,
  open: (tx: TxClient) => Side,
  work: (side: NoInfer<Side>) => Promise<T>,
  options: RetryOptions & { onCommit?: CommitListener } = {},
): Promise<T> {
  // Attempts run one after another; the last is the one that committed.
  let committed: Side | undefined;
  const result = await runTransaction(
    db,
    (tx) => {
      committed = open(tx);
      return work(committed);
    },
    options,
  );
  await cache.invalidate(committed!.staleTags);
  options.onCommit?.(committed!.commitFacts());
  return result;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function runTransaction<T>(
  db: Db,
  work: (tx: TxClient) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  return retrying(() => inDatabaseSpan("db.transaction", () => db.$transaction(work)), options);
}

/**
 * One statement that PostgreSQL runs as a transaction of its own (one round
 * trip on every path, Accelerate included), with the same retries and the
 * same naming of failures as runTransaction.
 */
export function runStatement<T>(db: Db, statement: (db: Db) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  return retrying(() => inDatabaseSpan("db.statement", () => statement(db)), options);
}

export interface RetryOptions {
  retry?: RetryPolicy;
  logger?: Logger;
  translate?: (error: unknown) => unknown;
  /** Told each retry's cause (metrics). Default: nobody. */
  observer?: Observer;
}

async function retrying<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const retry = options.retry ?? DEFAULT_RETRY_POLICY;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (error instanceof DomainError) throw error;
      if (isRetryableConflict(error)) {
        if (n >= retry.maxAttempts) {
          options.logger?.warn({ attempts: n }, "transaction conflicts persisted; giving up");
          throw new DomainError(ErrorReason.RETRIES_EXHAUSTED, `the operation kept conflicting with concurrent ones (${n} attempts); retry it`);
        }
        options.observer?.transactionRetried(retryCauseOf(error));
        const ceiling = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (n - 1));
        await sleep(ceiling / 2 + Math.random() * (ceiling / 2));
        continue;
      }
      const infrastructure = infrastructureErrorOf(error);
      if (infrastructure) {
        options.logger?.error({ err: error, reason: infrastructure.reason }, "database unavailable or too slow");
        throw infrastructure;
      }
      throw options.translate ? options.translate(error) : error;
    }
  }
}
