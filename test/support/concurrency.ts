/** Small tools for tests that interleave transactions on purpose. */
import type { TxClient } from "../../src/store/transaction.js";

/** Resolves every caller's promise once `parties` callers have arrived. */
export function barrier(parties: number): () => Promise<void> {
  let arrived = 0;
  let release!: () => void;
  const all = new Promise<void>((resolve) => (release = resolve));
  return () => {
    if (++arrived === parties) release();
    return all;
  };
}

/** Awaits a promise expected to reject and returns the rejection. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection, the promise resolved");
}

/** First statement of a transaction that must run SERIALIZABLE. */
export const serializable = (tx: TxClient) => tx.$executeRaw`SET TRANSACTION ISOLATION LEVEL SERIALIZABLE`;
