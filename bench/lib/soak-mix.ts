/**
 * `npm run soak`: its flags, its mixed load and its table. Pure (no I/O), so
 * the flag parsing and the formatting are unit-testable; bench/soak.ts runs it.
 */
import { parseDurationMs } from "./duration.js";
import { GET_BALANCE, GET_USER, TRANSFER, TRANSFER_UNIFORM_DATA, GET_BALANCE_DATA, GET_USER_DATA } from "./scenarios.js";
import type { WeightedCall } from "./grpc-op.js";

export const CREATE_USER = "aevon.identity.v1.IdentityService/CreateUser";
export const LIST_EVENTS = "aevon.audit.v1.AuditService/ListEvents";

/**
 * The soak's mix, by weight: mostly balance reads and transfers (the
 * service's bread and butter), some profile reads, a trickle of new users
 * (each opens a wallet and writes audit events) and audit listings of one
 * user's events (an index range, like an operator's console).
 */
export const SOAK_MIX: WeightedCall[] = [
  { call: GET_BALANCE, data: GET_BALANCE_DATA, weight: 50 },
  { call: TRANSFER, data: TRANSFER_UNIFORM_DATA, weight: 30 },
  { call: GET_USER, data: GET_USER_DATA, weight: 10 },
  { call: CREATE_USER, data: '{"idempotency_key":"soak-{{newUUID}}","handle":"s{{randomString 20}}","display_name":"soak user"}', weight: 5 },
  { call: LIST_EVENTS, data: '{"resource_type":"user","resource_id":"{{randomUser}}","page_size":20}', weight: 5 },
];

export interface SoakFlags {
  /** Measured minutes (after warm-up). */
  minutes: number;
  /** --smoke: 15 s, small fixture, short peak probe, 3 s samples. */
  smoke: boolean;
  /** --rps: the open-loop rate; unset: 70% of the peak measured first. */
  rps?: number;
  /** Fraction of the measured peak to run at. Default 0.7. */
  peakFraction: number;
  /** --interval: how often a table row is printed. Default 30 s (3 s with --smoke). */
  intervalMs: number;
  /** --accounts: funded wallets (one user each). Default 2000 (200 with --smoke). */
  accounts: number;
  /** --workers: WORKERS of the server. Default 1, so RSS and heap are one process's. */
  workers: number;
  /** -c: calls in flight at most. Default 64. */
  concurrency: number;
  /** --peak: length of the closed-loop peak probe. Default 10 s (3 s with --smoke). */
  peakMs: number;
  /** --warmup: open-loop warm-up before the measured window. Default 10 s (2 s with --smoke). */
  warmupMs: number;
}

export const SOAK_HELP = `npm run soak -- [--minutes N | --smoke] [--rps R] [--interval 30s] [--accounts 2000] [--workers 1] [-c 64] [--peak 10s] [--warmup 10s]

Starts the service (npm start) on a fresh database (DATABASE_URL's server, or an embedded PostgreSQL),
seeds users and wallets, measures the peak of the mix (closed loop) unless --rps is given, then runs the mix
open-loop at 70% of it for N minutes. Every --interval it prints a row: calls/s, errors, p99, the server's RSS,
heap and event-loop delay (its DIAGNOSTICS_INTERVAL_MS log lines), the audit seal lag (unsealed events) and the
database connections; at the end, errors by gRPC code and the RSS trend. Exits 1 if any call failed.
`;

export function parseSoakFlags(argv: string[]): SoakFlags | "help" {
  const values = new Map<string, string>();
  let smoke = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-h" || arg === "--help") return "help";
    if (arg === "--smoke") {
      smoke = true;
      continue;
    }
    const m = /^(--?[a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m || !["--minutes", "--rps", "--interval", "--accounts", "--workers", "-c", "--peak", "--warmup", "--fraction"].includes(m[1]!)) {
      throw new Error(`unknown flag "${arg}" (--help lists them)`);
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`${m[1]} needs a value`);
    values.set(m[1]!, value);
  }
  const num = (name: string, fallback: number, min: number, max: number, integer = true): number => {
    const raw = values.get(name);
    if (raw === undefined) return fallback;
    const v = Number(raw);
    if (!Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max) throw new Error(`${name}: expected ${integer ? "an integer" : "a number"} in ${min}..${max}, got "${raw}"`);
    return v;
  };
  const duration = (name: string, fallback: number) => (values.has(name) ? parseDurationMs(values.get(name)!, name) : fallback);
  if (smoke && values.has("--minutes")) throw new Error("--smoke and --minutes exclude each other");
  if (!smoke && !values.has("--minutes")) throw new Error("--minutes N (or --smoke) is required");
  return {
    minutes: smoke ? 0.25 : num("--minutes", 0, 0.1, 24 * 60, false),
    smoke,
    rps: values.has("--rps") ? num("--rps", 0, 1, 100_000) : undefined,
    peakFraction: num("--fraction", 0.7, 0.05, 1, false),
    intervalMs: duration("--interval", smoke ? 3_000 : 30_000),
    accounts: num("--accounts", smoke ? 200 : 2000, 2, 1_000_000),
    workers: num("--workers", 1, 1, 64),
    concurrency: num("-c", 64, 1, 10_000),
    peakMs: duration("--peak", smoke ? 3_000 : 10_000),
    warmupMs: duration("--warmup", smoke ? 2_000 : 10_000),
  };
}

/** One row of the table. */
export interface SoakRow {
  elapsedS: number;
  callsPerS: number;
  errors: number;
  p99Ms: number;
  rssMiB?: number;
  heapUsedMiB?: number;
  /** Worst event-loop delay p99 reported in the interval. */
  loopP99Ms?: number;
  /** Audit events committed but not sealed yet, and the oldest one's age. */
  unsealed?: number;
  oldestUnsealedS?: number;
  /** The service's connections to its database: active (running a statement) / all. */
  dbActive?: number;
  dbTotal?: number;
}

const f = (n: number | undefined, d: number) => (n !== undefined && Number.isFinite(n) ? n.toFixed(d) : "n/a");

export const TABLE_HEADER = [
  "| t (s) | calls/s | errors | p99 ms | RSS MiB | heap used MiB | loop delay p99 ms | unsealed | oldest unsealed s | DB conns active/all |",
  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
].join("\n");

export function formatRow(r: SoakRow): string {
  return (
    `| ${f(r.elapsedS, 0)} | ${f(r.callsPerS, 0)} | ${r.errors} | ${f(r.p99Ms, 1)} | ${f(r.rssMiB, 1)} | ${f(r.heapUsedMiB, 1)} | ` +
    `${f(r.loopP99Ms, 1)} | ${r.unsealed ?? "n/a"} | ${f(r.oldestUnsealedS, 1)} | ${r.dbActive ?? "n/a"}/${r.dbTotal ?? "n/a"} |`
  );
}

/** Least-squares slope of y over x (per unit of x), or undefined with fewer than 2 points. */
export function slope(points: [number, number][]): number | undefined {
  if (points.length < 2) return undefined;
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  if (sxx === 0) return undefined;
  return points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / sxx;
}

export interface SoakSummary {
  rps: number;
  peak?: number;
  minutes: number;
  rows: SoakRow[];
  /** Every call's outcome over the whole run (warm-up included), by gRPC code. */
  codes: Record<string, number>;
  firstErrors: Record<string, string>;
  /** Open loop: calls that waited for a free slot (the server fell behind the rate), and calls never started. */
  delayed?: number;
  dropped?: number;
  /** Calls/s over the whole measured window. */
  achievedCallsPerS?: number;
}

export function formatSummary(s: SoakSummary): string {
  const rss = s.rows.filter((r) => r.rssMiB !== undefined).map((r) => [r.elapsedS / 60, r.rssMiB!] as [number, number]);
  const heap = s.rows.filter((r) => r.heapUsedMiB !== undefined).map((r) => [r.elapsedS / 60, r.heapUsedMiB!] as [number, number]);
  const errors = Object.entries(s.codes).filter(([code]) => code !== "OK");
  const lines = [
    "",
    `Soak: ${s.minutes} min at ${s.rps} calls/s${s.peak !== undefined ? ` (peak measured: ${s.peak.toFixed(0)} calls/s)` : ""}`,
    "",
    TABLE_HEADER,
    ...s.rows.map(formatRow),
    "",
    "| code | calls |",
    "|---|---:|",
    ...Object.entries(s.codes).sort(([a], [b]) => a.localeCompare(b)).map(([code, n]) => `| ${code} | ${n} |`),
    "",
    `achieved ${f(s.achievedCallsPerS, 0)} calls/s of ${s.rps}; calls delayed behind the -c cap (server behind the rate): ${s.delayed ?? "n/a"}, dropped: ${s.dropped ?? "n/a"}`,
    `errors: ${errors.reduce((a, [, n]) => a + n, 0)}${errors.length ? ` (${errors.map(([c, n]) => `${c} ${n}: ${s.firstErrors[c] ?? ""}`).join("; ")})` : ""}`,
    rss.length
      ? `RSS: first ${f(rss[0]![1], 1)} MiB, last ${f(rss.at(-1)![1], 1)} MiB, min ${f(Math.min(...rss.map((p) => p[1])), 1)}, max ${f(Math.max(...rss.map((p) => p[1])), 1)}, ` +
        `trend ${f(slope(rss), 2)} MiB/min; heap used trend ${f(slope(heap), 2)} MiB/min`
      : "RSS: no diagnostics line was read",
  ];
  return lines.join("\n") + "\n";
}
