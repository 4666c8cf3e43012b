/**
 * ReadBatcher against an in-memory loader: concurrent reads share one load,
 * each caller gets its own key's value, bounds hold, errors reach every
 * caller of the failed batch only.
 */
import { describe, expect, it } from "vitest";
import { ReadBatcher } from "../../../src/store/read-batch.js";

/** A loader over a fixed table that records each batch and lets the test finish loads by hand. */
function loader(table: Record<string, number>) {
  const batches: string[][] = [];
  const open: { keys: readonly string[]; finish(error?: Error): void }[] = [];
  const load = (keys: readonly string[]) =>
    new Promise<ReadonlyMap<string, number>>((resolve, reject) => {
      batches.push([...keys]);
      open.push({
        keys,
        finish: (error) =>
          error ? reject(error) : resolve(new Map(keys.filter((k) => k in table).map((k) => [k, table[k]!]))),
      });
    });
  return { load, batches, open };
}

/** A few turns of the event loop: a finished load's bookkeeping and the batcher's next setImmediate both run. */
const turn = async () => {
  for (let i = 0; i < 3; i += 1) await new Promise((resolve) => setImmediate(resolve));
};

describe("ReadBatcher", () => {
  it("sends reads asked for in one turn as one batch, each caller getting its own key, null when absent", async () => {
    const { load, batches, open } = loader({ a: 1, b: 2, c: 3 });
    const batcher = new ReadBatcher(load);
    const reads = ["a", "b", "zz", "c"].map((k) => batcher.read(k));
    await turn();
    expect(batches).toEqual([["a", "b", "zz", "c"]]);
    open[0]!.finish();
    expect(await Promise.all(reads)).toEqual([1, 2, null, 3]);
  });

  it("reads a key asked for twice once, answering both callers", async () => {
    const { load, batches, open } = loader({ a: 7 });
    const batcher = new ReadBatcher(load);
    const reads = [batcher.read("a"), batcher.read("a")];
    await turn();
    expect(batches).toEqual([["a"]]);
    open[0]!.finish();
    expect(await Promise.all(reads)).toEqual([7, 7]);
  });

  it("keeps at most maxInFlight loads out; reads asked for meanwhile gather into the next batch, at most maxKeys each", async () => {
    const { load, batches, open } = loader({});
    const batcher = new ReadBatcher(load, { maxInFlight: 1, maxKeys: 3 });
    const first = batcher.read("k0");
    await turn();
    const later = Array.from({ length: 5 }, (_, i) => batcher.read(`k${i + 1}`));
    await turn();
    expect(batches).toEqual([["k0"]]);
    expect(batcher.waiting).toBe(5);
    open[0]!.finish();
    await first;
    await turn();
    expect(batches).toEqual([["k0"], ["k1", "k2", "k3"]]);
    open[1]!.finish();
    await turn();
    expect(batches).toEqual([["k0"], ["k1", "k2", "k3"], ["k4", "k5"]]);
    open[2]!.finish();
    expect(await Promise.all(later)).toEqual([null, null, null, null, null]);
    expect(batcher.waiting).toBe(0);
  });

  it("rejects every caller of a failed batch with its error, and the next batch is read normally", async () => {
    const { load, open } = loader({ a: 1 });
    const batcher = new ReadBatcher(load, { maxInFlight: 1 });
    const failed = [batcher.read("a"), batcher.read("b")].map((p) => p.then(() => "ok", (e: Error) => e.message));
    await turn();
    const next = batcher.read("a");
    open[0]!.finish(new Error("connection terminated"));
    expect(await Promise.all(failed)).toEqual(["connection terminated", "connection terminated"]);
    await turn();
    open[1]!.finish();
    expect(await next).toBe(1);
  });

  it("a loader that throws synchronously rejects the batch instead of stranding it", async () => {
    const batcher = new ReadBatcher<number>(() => {
      throw new Error("bad");
    });
    await expect(batcher.read("a")).rejects.toThrow("bad");
  });

  it("refuses limits that are not positive integers", () => {
    expect(() => new ReadBatcher(async () => new Map(), { maxKeys: 0 })).toThrow(RangeError);
    expect(() => new ReadBatcher(async () => new Map(), { maxInFlight: 1.5 })).toThrow(RangeError);
  });
});
