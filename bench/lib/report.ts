/**
 * Reports: a ghz-like summary of one run, markdown tables for a suite (the
 * same text goes to stdout and to bench/results/<date>.md), JSON for both.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import type { Aggregate, Ratio } from "./aggregate.js";
import type { RunRecord } from "./measure.js";

export interface Machine {
  date: string;
  cpuModel: string;
  cores: number;
  ramGiB: number;
  node: string;
  postgres: string;
  kernel: string;
  commit?: string;
}

export function describeMachine(postgresVersion: string, repoRoot: string): Machine {
  let cpuModel = os.cpus()[0]?.model ?? "unknown";
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? cpuModel;
  } catch {
    // not Linux
  }
  let commit: string | undefined;
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repoRoot, stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: repoRoot, stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
    if (dirty) commit += " (with uncommitted changes)";
  } catch {
    // not a git checkout
  }
  return {
    date: new Date().toISOString(),
    cpuModel,
    cores: os.cpus().length,
    ramGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    postgres: postgresVersion,
    kernel: `${os.type()} ${os.release()}`,
    commit,
  };
}

/** Client CPU (% of one core) from which a window is flagged as possibly client-bound. */
export const CLIENT_BOUND_PCT = 85;

const f = (n: number | undefined, digits: number) => (n !== undefined && Number.isFinite(n) ? n.toFixed(digits) : "n/a");
const statuses = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(", ") || "–";

/** ghz-like summary of one run. */
export function formatRunText(r: RunRecord, call: string): string {
  const l = r.latency;
  const lines = [
    "Summary:",
    `  Call:          ${call}`,
    `  Count:         ${r.count}`,
    `  Total:         ${f(r.durationS, 2)} s`,
    `  Requests/sec:  ${f(r.callsPerS, 2)}`,
    `  Concurrency:   ${r.concurrency}${r.rps !== undefined ? ` (cap), open loop at ${r.rps} calls/s` : ""}`,
    "",
    "Latency (ms):",
    `  Fastest: ${f(l?.minMs, 2)}   Average: ${f(l?.meanMs, 2)}   Slowest: ${f(l?.maxMs, 2)}`,
    `  p50: ${f(l?.p50Ms, 2)}   p90: ${f(l?.p90Ms, 2)}   p99: ${f(l?.p99Ms, 2)}   max: ${f(l?.maxMs, 2)}`,
    "",
    "Status code distribution:",
    ...Object.entries(r.statusCounts).map(([k, v]) => `  [${k}]   ${v} responses`),
  ];
  const errs = Object.entries(r.firstErrors);
  if (errs.length) lines.push("", "Error distribution (first message per status):", ...errs.map(([k, v]) => `  [${k}]   ${v}`));
  if (r.perLabel) lines.push("", `Calls per method: ${statuses(r.perLabel)}`);
  lines.push(
    "",
    `Server CPU per call: ${f(r.serverCpuMsPerCall, 3)} ms (server process tree, /proc utime+stime over the window)`,
    `PostgreSQL CPU per call: ${f(r.dbCpuMsPerCall, 3)} ms`,
    `Client (bench) CPU: ${f(r.clientCpuPct, 0)}% of a core`,
  );
  if (r.delayed) lines.push(`Open loop: ${r.delayed} calls waited for a free slot (latency counts from their scheduled start)`);
  if (r.dropped) lines.push(`Open loop: ${r.dropped} calls dropped (backlog full)`);
  if (r.stillInFlight) lines.push(`${r.stillInFlight} calls still unanswered after the drain`);
  return lines.join("\n") + "\n";
}

export interface SuiteReport {
  machine: Machine;
  settings: string[];
  aggregates: Aggregate[];
  ratios: Ratio[];
  notes: string[];
}

export function formatSuiteMarkdown(s: SuiteReport): string {
  const m = s.machine;
  const out: string[] = [
    `# Ledger of Record load benchmark, ${m.date.slice(0, 10)}`,
    "",
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM, ${m.kernel}; Node ${m.node}; ${m.postgres}; ${m.date}` +
      (m.commit ? `; commit ${m.commit}` : ""),
    "",
    ...s.settings.map((x) => `- ${x}`),
    "",
    "## Ratios (medians over the rounds)",
    "",
    "| comparison | value | from |",
    "|---|---:|---|",
    ...s.ratios.map((r) => `| ${r.name} | ${r.value === undefined ? "n/a" : r.unit === "×" ? `${f(r.value, 2)}×` : `${f(r.value, r.value < 10 ? 3 : 1)} ms`} | ${r.detail} |`),
    "",
    "## Windows (median of the rounds; calls/s spread min–max)",
    "",
    "| window | rounds | calls/s | spread | p50 ms | p90 ms | p99 ms | max ms | server CPU ms/call | PostgreSQL CPU ms/call | client CPU | statuses |",
    "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const a of s.aggregates) {
    const rounds = a.failedRounds ? `${a.rounds - a.failedRounds}/${a.rounds}` : String(a.rounds);
    out.push(
      `| ${a.label} | ${rounds} | ${f(a.callsPerS, 0)} | ${f(a.callsPerSMin, 0)}–${f(a.callsPerSMax, 0)} | ${f(a.p50Ms, 2)} | ${f(a.p90Ms, 2)} | ${f(a.p99Ms, 2)} | ${f(a.maxMs, 1)} | ` +
        `${f(a.serverCpuMsPerCall, 3)} | ${f(a.dbCpuMsPerCall, 3)} | ${a.clientCpuPct === undefined ? "–" : `${f(a.clientCpuPct, 0)}%`} | ${statuses(a.statusCounts)} |`,
    );
  }
  const problems: string[] = [];
  for (const a of s.aggregates) {
    if ((a.clientCpuPct ?? 0) >= CLIENT_BOUND_PCT) {
      problems.push(`${a.label}: the bench itself used ${f(a.clientCpuPct, 0)}% of a core: calls/s may be the client's limit, not the server's`);
    }
    for (const e of a.errors) problems.push(`${a.label}: window failed: ${e}`);
    for (const [code, msg] of Object.entries(a.firstErrors)) problems.push(`${a.label}: ${code}: ${msg}`);
  }
  const commands = s.aggregates.filter((a) => a.command).map((a) => `${a.label}: \`${a.command}\``);
  if (commands.length) out.push("", "Baseline commands:", "", ...commands.map((c) => `- ${c}`));
  if (s.notes.length || problems.length) out.push("", "Notes:", "", ...[...s.notes, ...problems].map((n) => `- ${n}`));
  return out.join("\n") + "\n";
}

/** bench/results/<YYYY-MM-DD>.md, or -2, -3, … when it exists. Returns the path. */
export function writeResultsFile(dir: string, markdown: string, date = new Date()): string {
  mkdirSync(dir, { recursive: true });
  const day = date.toISOString().slice(0, 10);
  let path = join(dir, `${day}.md`);
  for (let i = 2; existsSync(path); i++) path = join(dir, `${day}-${i}.md`);
  writeFileSync(path, markdown);
  return path;
}
