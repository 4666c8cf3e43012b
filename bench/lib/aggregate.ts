/**
 * From windows to figures: medians over the rounds of each measurement, and
 * the ratio table (service against its baselines). Pure.
 */
import type { RunRecord, Target } from "./measure.js";
import { median } from "./stats.js";

export interface Aggregate {
  key: string;
  target: Target;
  scenario: string;
  label: string;
  concurrency: number;
  rounds: number;
  failedRounds: number;
  /** Median over the rounds that ran; the spread is min–max of calls/s. */
  callsPerS: number;
  callsPerSMin: number;
  callsPerSMax: number;
  rps?: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  serverCpuMsPerCall?: number;
  dbCpuMsPerCall?: number;
  clientCpuPct?: number;
  /** Summed over the rounds. */
  count: number;
  statusCounts: Record<string, number>;
  firstErrors: Record<string, string>;
  /** Why rounds failed as a whole. */
  errors: string[];
  command?: string;
}

const opt = (n: number) => (Number.isFinite(n) ? n : undefined);

/** A multi-line error (a tool's output) as one report line of at most 400 characters. */
export function oneLine(text: string): string {
  const line = text.trim().replace(/\s*\n\s*/g, " | ");
  return line.length > 400 ? `${line.slice(0, 399)}…` : line;
}

export function aggregate(records: RunRecord[]): Aggregate[] {
  const byKey = new Map<string, RunRecord[]>();
  for (const r of records) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
  const out: Aggregate[] = [];
  for (const [key, all] of byKey) {
    const ok = all.filter((r) => !r.error);
    const first = all[0]!;
    const statusCounts: Record<string, number> = {};
    const firstErrors: Record<string, string> = {};
    for (const r of ok) {
      for (const [k, v] of Object.entries(r.statusCounts)) statusCounts[k] = (statusCounts[k] ?? 0) + v;
      for (const [k, v] of Object.entries(r.firstErrors)) firstErrors[k] ??= v;
    }
    const rates = ok.map((r) => r.callsPerS);
    out.push({
      key,
      target: first.target,
      scenario: first.scenario,
      label: first.label,
      concurrency: first.concurrency,
      rounds: all.length,
      failedRounds: all.length - ok.length,
      callsPerS: median(rates),
      callsPerSMin: rates.length ? Math.min(...rates) : NaN,
      callsPerSMax: rates.length ? Math.max(...rates) : NaN,
      rps: opt(median(ok.map((r) => r.rps))),
      p50Ms: median(ok.map((r) => r.latency?.p50Ms)),
      p90Ms: median(ok.map((r) => r.latency?.p90Ms)),
      p99Ms: median(ok.map((r) => r.latency?.p99Ms)),
      maxMs: median(ok.map((r) => r.latency?.maxMs)),
      serverCpuMsPerCall: opt(median(ok.map((r) => r.serverCpuMsPerCall))),
      dbCpuMsPerCall: opt(median(ok.map((r) => r.dbCpuMsPerCall))),
      clientCpuPct: opt(median(ok.map((r) => r.clientCpuPct))),
      count: ok.reduce((a, r) => a + r.count, 0),
      statusCounts,
      firstErrors,
      errors: [...new Set(all.filter((r) => r.error).map((r) => oneLine(r.error!)))],
      command: first.command,
    });
  }
  return out;
}

export interface Ratio {
  name: string;
  /** The figure: a ratio (×) or a time (ms). Undefined when a side is missing. */
  value?: number;
  unit: "×" | "ms";
  /** What it was computed from. */
  detail: string;
}

const f = (n: number | undefined, digits: number) => (n !== undefined && Number.isFinite(n) ? n.toFixed(digits) : "n/a");

export function ratios(aggs: Aggregate[]): Ratio[] {
  const get = (key: string) => aggs.find((a) => a.key === key && a.failedRounds < a.rounds);
  const out: Ratio[] = [];
  const ratio = (name: string, a: Aggregate | undefined, b: Aggregate | undefined, pick: (x: Aggregate) => number | undefined, unit: string, digits = 0) => {
    if (!a && !b) return;
    const va = a ? pick(a) : undefined;
    const vb = b ? pick(b) : undefined;
    const value = va !== undefined && vb !== undefined && vb > 0 ? va / vb : undefined;
    out.push({ name, value: value !== undefined && Number.isFinite(value) ? value : undefined, unit: "×", detail: `${f(va, digits)} / ${f(vb, digits)} ${unit}` });
  };
  const time = (name: string, a: Aggregate | undefined, pick: (x: Aggregate) => number | undefined, detail: (x: Aggregate) => string) => {
    if (!a) return;
    out.push({ name, value: opt(pick(a) ?? NaN), unit: "ms", detail: detail(a) });
  };
  const rate = (x: Aggregate) => x.callsPerS;
  ratio("Transfer uniform / pgbench uniform (calls/s)", get("service/transfer-uniform"), get("pgbench/uniform"), rate, "calls/s");
  ratio("Transfer hot / pgbench hot (calls/s)", get("service/transfer-hot"), get("pgbench/hot"), rate, "calls/s");
  ratio("Transfer uniform / raw SQL uniform (calls/s)", get("service/transfer-uniform"), get("raw-sql/uniform"), rate, "calls/s");
  ratio("Transfer hot / raw SQL hot (calls/s)", get("service/transfer-hot"), get("raw-sql/hot"), rate, "calls/s");
  ratio("GetBalance / Health.Check (calls/s)", get("service/get-balance"), get("service/health"), rate, "calls/s");
  ratio("Health.Check / bare grpc-js echo (calls/s)", get("service/health"), get("echo/health"), rate, "calls/s");
  const cpu = (x: Aggregate) => x.serverCpuMsPerCall;
  time("server CPU per Transfer (uniform)", get("service/transfer-uniform"), cpu, (x) => `server process tree, median of ${x.rounds} windows`);
  time("server CPU per Transfer (hot)", get("service/transfer-hot"), cpu, (x) => `server process tree, median of ${x.rounds} windows`);
  time("server CPU per GetBalance", get("service/get-balance"), cpu, (x) => `server process tree, median of ${x.rounds} windows`);
  ratio("PostgreSQL CPU per Transfer / per pgbench transfer", get("service/transfer-uniform"), get("pgbench/uniform"), (x) => x.dbCpuMsPerCall, "ms", 3);
  for (const pct of [25, 50, 75]) {
    time(`p99 Transfer at ${pct}% of peak`, get(`service/transfer-uniform/rps${pct}`), (x) => x.p99Ms, (x) => `open loop at ${f(x.rps, 0)} calls/s (achieved ${f(x.callsPerS, 0)})`);
  }
  ratio("Transfer p50 one at a time / pgbench -c 1 p50", get("service/transfer-uniform/c1"), get("pgbench/uniform/c1"), (x) => x.p50Ms, "ms", 2);
  ratio("GetBalance p50 one at a time / Health.Check p50 one at a time", get("service/get-balance/c1"), get("service/health/c1"), (x) => x.p50Ms, "ms", 2);
  ratio("Health.Check p50 one at a time / echo p50 one at a time", get("service/health/c1"), get("echo/health/c1"), (x) => x.p50Ms, "ms", 2);
  return out;
}
