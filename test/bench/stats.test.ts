/** The bench's figures: percentiles, medians over rounds, ratios, pgbench's output. No database. */
import { describe, expect, it } from "vitest";
import { aggregate, ratios } from "../../bench/lib/aggregate.js";
import { parsePgbenchOutput, parseTransactionLog, transferScript } from "../../bench/lib/baselines/pgbench.js";
import type { RunRecord } from "../../bench/lib/measure.js";
import { LatencyRecorder, median, percentile, summarize } from "../../bench/lib/stats.js";

describe("percentiles", () => {
  const oneToHundred = Float64Array.from({ length: 100 }, (_, i) => i + 1);

  it("are nearest-rank", () => {
    expect(percentile(oneToHundred, 0.5)).toBe(50);
    expect(percentile(oneToHundred, 0.9)).toBe(90);
    expect(percentile(oneToHundred, 0.99)).toBe(99);
    expect(percentile(oneToHundred, 1)).toBe(100);
    expect(percentile(oneToHundred, 0)).toBe(1);
    expect(percentile([1, 2, 3], 0.5)).toBe(2);
    expect(percentile([7], 0.99)).toBe(7);
    expect(percentile([], 0.5)).toBeNaN();
    expect(() => percentile([1], 1.5)).toThrow(/p must be in \[0, 1\]/);
  });

  it("summarize sorts its input and reports p50/p90/p99/max", () => {
    const s = summarize([5, 1, 4, 2, 3, 10, 9, 8, 7, 6]);
    expect(s).toMatchObject({ count: 10, minMs: 1, p50Ms: 5, p90Ms: 9, p99Ms: 10, maxMs: 10, meanMs: 5.5 });
  });

  it("the recorder keeps a bounded reservoir but the exact count and maximum", () => {
    const r = new LatencyRecorder(10, () => 0.999);
    for (let i = 1; i <= 1000; i++) r.add(i);
    const s = r.summary();
    expect(s.count).toBe(1000);
    expect(s.maxMs).toBe(1000);
    expect(s.p50Ms).toBeLessThanOrEqual(10); // the reservoir kept the first 10 (random 0.999 never replaces)
  });

  it("medians ignore missing values", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([undefined, 5, NaN])).toBe(5);
    expect(median([])).toBeNaN();
  });
});

const record = (key: string, round: number, callsPerS: number, p50Ms: number, extra: Partial<RunRecord> = {}): RunRecord => ({
  key,
  target: key.startsWith("pgbench") ? "pgbench" : "service",
  scenario: "s",
  label: key,
  round,
  concurrency: 64,
  count: callsPerS,
  durationS: 1,
  callsPerS,
  latency: { count: callsPerS, minMs: p50Ms, meanMs: p50Ms, p50Ms, p90Ms: p50Ms, p99Ms: p50Ms * 2, maxMs: p50Ms * 3 },
  statusCounts: { OK: callsPerS },
  firstErrors: {},
  ...extra,
});

describe("aggregates and ratios", () => {
  it("take the median of each measurement over its rounds, then divide", () => {
    const records = [
      record("service/transfer-uniform", 1, 700, 50, { serverCpuMsPerCall: 1.2 }),
      record("pgbench/uniform", 1, 2000, 1),
      record("service/transfer-uniform", 2, 900, 40, { serverCpuMsPerCall: 1.0 }),
      record("pgbench/uniform", 2, 1000, 1),
      record("service/transfer-uniform", 3, 800, 45, { serverCpuMsPerCall: 1.1 }),
      record("pgbench/uniform", 3, 1600, 1),
      { ...record("pgbench/uniform", 4, 0, 0), error: "pgbench failed (exit 2):\n  FATAL: terminating connection\n" },
    ];
    const aggs = aggregate(records);
    const svc = aggs.find((a) => a.key === "service/transfer-uniform")!;
    expect(svc).toMatchObject({ rounds: 3, failedRounds: 0, callsPerS: 800, callsPerSMin: 700, callsPerSMax: 900, p50Ms: 45, serverCpuMsPerCall: 1.1, count: 2400 });
    const pgb = aggs.find((a) => a.key === "pgbench/uniform")!;
    expect(pgb).toMatchObject({ rounds: 4, failedRounds: 1, callsPerS: 1600, errors: ["pgbench failed (exit 2): | FATAL: terminating connection"] });
    const table = ratios(aggs);
    expect(table.find((r) => r.name.startsWith("Transfer uniform / pgbench uniform"))).toMatchObject({ value: 0.5, unit: "×" });
    expect(table.find((r) => r.name === "server CPU per Transfer (uniform)")).toMatchObject({ value: 1.1, unit: "ms" });
    // A side that never ran: the row says n/a rather than disappearing or dividing by nothing.
    expect(table.find((r) => r.name.startsWith("Transfer uniform / raw SQL"))).toMatchObject({ value: undefined });
  });
});

describe("pgbench", () => {
  it("runs exactly the specified transfer script at scale 10, the debit fixed to 1 when hot", () => {
    expect(transferScript(false, 10)).toBe(
      "\\set a random(1, 1000000)\n\\set b random(1, 1000000)\nBEGIN;\n" +
        "UPDATE pgbench_accounts SET abalance = abalance - 1 WHERE aid = :a;\n" +
        "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :b;\n" +
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, :a, -1, CURRENT_TIMESTAMP);\n" +
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, :b, 1, CURRENT_TIMESTAMP);\n" +
        "END;\n",
    );
    expect(transferScript(true, 10).split("\n")[0]).toBe("\\set a 1");
  });

  it("reads tps without connection time, transactions, failures and latency", () => {
    const out = [
      "pgbench (15.20 (Debian 15.20-0+deb12u1))",
      "number of transactions actually processed: 3931",
      "number of failed transactions: 2 (0.051%)",
      "latency average = 0.509 ms",
      "initial connection time = 3.678 ms",
      "tps = 3928.913747 (without initial connection time)",
    ].join("\n");
    expect(parsePgbenchOutput(out)).toEqual({ tps: 3928.913747, transactions: 3931, failed: 2, latencyAvgMs: 0.509 });
    expect(parsePgbenchOutput("tps = 12.5 (excluding connections establishing)\n").tps).toBe(12.5);
    expect(() => parsePgbenchOutput("FATAL: no such database")).toThrow(/pgbench printed no tps/);
  });

  it("reads per-transaction latencies from its -l log, skipping failed ones", () => {
    expect(parseTransactionLog("0 1 1500 0 1700000000 123\n0 2 failed 0 1700000000 456\n0 3 250 0 1700000000 789\n")).toEqual([1.5, 0.25]);
  });
});
