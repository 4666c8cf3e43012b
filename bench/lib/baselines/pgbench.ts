/**
 * Baseline: pgbench running a double-entry transfer (two account updates, two
 * history rows, one transaction), on the same PostgreSQL server as the
 * service, in its own database initialised with `pgbench -i -s <scale>`:
 *
 *   pgbench -n -c 16 -j 2 -T <secs> -M prepared -f transfer.sql
 *
 * Uniform: both accounts random; hot: the debit account fixed to 1. One run
 * with -c 1 (and -l, for percentiles) is the single-client latency reference.
 */
import { spawn } from "node:child_process";
import { accessSync, constants, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { libpqEnv } from "../database.js";
import { treeCpu, treeCpuDelta } from "../proc.js";
import { summarize, type LatencySummary } from "../stats.js";

/** pgbench on PATH, or `explicit`; undefined when there is none. */
export function findPgbench(explicit?: string): string | undefined {
  const candidates = explicit ? [explicit] : (process.env.PATH ?? "").split(delimiter).filter(Boolean).map((d) => join(d, "pgbench"));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The transfer script; at scale 10 exactly the specified one (accounts 1..1,000,000). */
export function transferScript(hot: boolean, scale: number): string {
  const n = scale * 100_000;
  return [
    hot ? "\\set a 1" : `\\set a random(1, ${n})`,
    `\\set b random(1, ${n})`,
    "BEGIN;",
    "UPDATE pgbench_accounts SET abalance = abalance - 1 WHERE aid = :a;",
    "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :b;",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, :a, -1, CURRENT_TIMESTAMP);",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, :b, 1, CURRENT_TIMESTAMP);",
    "END;",
    "",
  ].join("\n");
}

export interface PgbenchOutput {
  /** "tps = … (without initial connection time)" */
  tps: number;
  transactions?: number;
  failed?: number;
  latencyAvgMs?: number;
}

/** Reads pgbench's summary (PostgreSQL 13+ and older wording). */
export function parsePgbenchOutput(text: string): PgbenchOutput {
  const tps = /tps = ([\d.]+) \((?:without initial connection time|excluding connections establishing)\)/.exec(text);
  if (!tps) throw new Error(`pgbench printed no tps:\n${text.trim().split("\n").slice(-15).join("\n")}`);
  const num = (re: RegExp) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : undefined;
  };
  return {
    tps: Number(tps[1]),
    transactions: num(/number of transactions actually processed: (\d+)/),
    failed: num(/number of failed transactions: (\d+)/),
    latencyAvgMs: num(/latency average = ([\d.]+) ms/),
  };
}

function run(bin: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`pgbench ${args.join(" ")} failed (${signal ?? `exit ${code}`}):\n${out.trim().split("\n").slice(-10).join("\n")}`));
    });
  });
}

export interface Pgbench {
  bin: string;
  url: string;
  /** Folder for the scripts and -l logs. */
  workDir: string;
  scale: number;
  postmasterPid?: number;
}

/** `pgbench -i -s <scale>` into the dedicated database. */
export async function initPgbench(p: Pgbench): Promise<void> {
  await run(p.bin, ["-i", "-s", String(p.scale)], libpqEnv(p.url), 30 * 60_000);
  writeFileSync(join(p.workDir, "transfer.sql"), transferScript(false, p.scale));
  writeFileSync(join(p.workDir, "transfer-hot.sql"), transferScript(true, p.scale));
}

export interface PgbenchRun {
  clients: number;
  tps: number;
  seconds: number;
  transactions?: number;
  failed?: number;
  latencyAvgMs?: number;
  /** From the -l transaction log (single-client runs). */
  latency?: LatencySummary;
  /** CPU of the PostgreSQL processes per transaction, ms (local server only). */
  dbCpuMsPerCall?: number;
  command: string;
}

/** Milliseconds of each transaction in pgbench -l logs (field 3, µs); failed ones are skipped. */
export function parseTransactionLog(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    if (f.length >= 3 && /^\d+$/.test(f[2]!)) out.push(Number(f[2]) / 1000);
  }
  return out;
}

/**
 * One measured pgbench run: a warm-up run first (same script and clients,
 * not counted), then `pgbench -n -c <clients> -j <threads> -T <secs> -M
 * prepared -f transfer.sql`.
 */
export async function runPgbench(p: Pgbench, options: { hot: boolean; clients: number; seconds: number; warmupSeconds: number; logLatencies?: boolean }): Promise<PgbenchRun> {
  const env = libpqEnv(p.url);
  const threads = Math.min(2, options.clients);
  const script = join(p.workDir, options.hot ? "transfer-hot.sql" : "transfer.sql");
  const base = ["-n", "-c", String(options.clients), "-j", String(threads)];
  const tail = ["-M", "prepared", "-f", script];
  if (options.warmupSeconds > 0) await run(p.bin, [...base, "-T", String(options.warmupSeconds), ...tail], env, (options.warmupSeconds + 120) * 1000);
  const prefix = join(p.workDir, "pgbench_log");
  const log = options.logLatencies ? ["-l", `--log-prefix=${prefix}`] : [];
  const args = [...base, "-T", String(options.seconds), ...tail, ...log];
  const cpu0 = treeCpu(p.postmasterPid);
  const out = await run(p.bin, args, env, (options.seconds + 120) * 1000);
  const cpuMs = treeCpuDelta(cpu0, treeCpu(p.postmasterPid));
  const parsed = parsePgbenchOutput(out);
  let latency: LatencySummary | undefined;
  if (options.logLatencies) {
    const samples: number[] = [];
    for (const name of readdirSync(p.workDir).filter((f) => f.startsWith("pgbench_log."))) {
      for (const ms of parseTransactionLog(readFileSync(join(p.workDir, name), "utf8"))) samples.push(ms);
      rmSync(join(p.workDir, name));
    }
    latency = summarize(samples);
  }
  const txns = parsed.transactions ?? parsed.tps * options.seconds;
  return {
    clients: options.clients,
    tps: parsed.tps,
    seconds: options.seconds,
    transactions: parsed.transactions,
    failed: parsed.failed,
    latencyAvgMs: parsed.latencyAvgMs,
    latency,
    dbCpuMsPerCall: cpuMs !== undefined && txns > 0 ? cpuMs / txns : undefined,
    command: `pgbench ${[...base, "-T", String(options.seconds), "-M", "prepared", "-f", options.hot ? "transfer-hot.sql" : "transfer.sql", ...(log.length ? ["-l"] : [])].join(" ")}`,
  };
}
