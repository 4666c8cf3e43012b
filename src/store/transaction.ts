/**
 * Runs a unit of work in one `prisma.$transaction` (law 2), retrying the
 * whole of it on serialization failures and deadlocks, with a bound and
 * jittered backoff. Canonical lock order makes deadlocks between our own
 * transactions impossible; the retry is the safety net for everything else
 * (other writers, SERIALIZABLE callers, a conflict surfacing at COMMIT).
 */
import type { Logger } from "pino";
import { DomainError, ErrorReason } from "../domain/errors.js";
import type { Prisma } from "../generated/prisma/client.js";
import type { Db } from "../lib/prisma.js";
import { isRetryableConflict, isUnavailable } from "./db-errors.js";

export type TxClient = Prisma.TransactionClient;

export interface RetryPolicy {
  /** Attempts in all, first included. Default 8. */
  maxAttempts: number;
  /** First backoff; doubles per attempt, jittered. Default 2 ms. */
  baseDelayMs: number;
  /** Backoff ceiling. Default 100 ms. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 2, maxDelayMs: 100 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runTransaction<T>(
  db: Db,
  work: (tx: TxClient) => Promise<T>,
  options: { retry?: RetryPolicy; logger?: Logger; translate?: (error: unknown) => unknown } = {},
): Promise<T> {
  const retry = options.retry ?? DEFAULT_RETRY_POLICY;
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.$transaction(work);
    } catch (error) {
      if (error instanceof DomainError) throw error;
      if (isRetryableConflict(error)) {
        if (attempt >= retry.maxAttempts) {
          options.logger?.warn({ attempts: attempt }, "transaction conflicts persisted; giving up");
          throw new DomainError(ErrorReason.RETRIES_EXHAUSTED, `the operation kept conflicting with concurrent ones (${attempt} attempts); retry it`);
        }
        const ceiling = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
        await sleep(ceiling / 2 + Math.random() * (ceiling / 2));
        continue;
      }
      if (isUnavailable(error)) {
        options.logger?.error({ err: error }, "database unavailable");
        throw new DomainError(ErrorReason.UNAVAILABLE, "the database is unavailable; retry later");
      }
      throw options.translate ? options.translate(error) : error;
    }
  }
}
