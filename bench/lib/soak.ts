/**
 * Soak: the read-write mix at a fixed --rps (open loop) for --soak minutes,
 * sampling the server's RSS (VmRSS of its process tree, /proc) and its V8
 * heap (a Node diagnostic report, asked for with SIGUSR2: the server runs
 * with --report-on-signal) every --sample-interval. The verdict: did RSS stay
 * within ±10% of its first sample after warm-up?
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchOptions } from "./flags.js";
import { grpcOp } from "./grpc-op.js";
import { runLoad } from "./load.js";
import { treeRssBytes } from "./proc.js";
import { SCENARIOS } from "./scenarios.js";
import type { Session } from "./session.js";

/** Open-loop rate when --rps is not given. */
export const DEFAULT_SOAK_RPS = 100;
/** RSS may move this much (either way) from its first sample after warm-up. */
export const RSS_TOLERANCE = 0.1;

export interface SoakSample {
  elapsedS: number;
  callsPerS: number;
  errors: number;
  p99Ms: number;
  rssMiB?: number;
  heapUsedMiB?: number;
  heapTotalMiB?: number;
}

export interface SoakResult {
  rps: number;
  minutes: number;
  warmupS: number;
  samples: SoakSample[];
  rssFirstMiB?: number;
  rssMinMiB?: number;
  rssMaxMiB?: number;
  /** Largest deviation from the first sample, as a fraction. */
  rssMaxDeviation?: number;
  rssStable?: boolean;
}

/** Node flags the server needs for heap sampling: a diagnostic report on SIGUSR2, into `dir`. */
export function heapReportNodeArgs(dir: string): string[] {
  return ["--report-on-signal", "--report-signal=SIGUSR2", `--report-directory=${dir}`, "--report-compact"];
}

export async function makeReportDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "lor-bench-heap-"));
}

/** Asks the server for a diagnostic report and reads its javascriptHeap; undefined if none comes within 3 s. */
async function readHeap(pid: number, dir: string): Promise<{ used: number; total: number } | undefined> {
  try {
    process.kill(pid, "SIGUSR2");
  } catch {
    return undefined;
  }
  for (let waited = 0; waited < 3_000; waited += 50) {
    await new Promise((r) => setTimeout(r, 50));
    for (const name of (await readdir(dir)).filter((n) => n.endsWith(".json"))) {
      try {
        const report = JSON.parse(await readFile(join(dir, name), "utf8")) as { javascriptHeap?: { usedMemory: number; totalMemory: number } };
        await rm(join(dir, name), { force: true });
        if (report.javascriptHeap) return { used: report.javascriptHeap.usedMemory, total: report.javascriptHeap.totalMemory };
      } catch {
        // still being written: read it next time
      }
    }
  }
  return undefined;
}

const MiB = 2 ** 20;

export async function runSoak(options: BenchOptions, session: Session, reportDir: string, log: (line: string) => void): Promise<SoakResult> {
  const minutes = options.soakMinutes!;
  const rps = options.rps ?? DEFAULT_SOAK_RPS;
  const soakMs = minutes * 60_000;
  const warmupMs = Math.max(options.warmupMs, Math.min(60_000, soakMs / 5));
  const fixture = await session.seed("s", options.accounts);
  const op = grpcOp(session.conn, SCENARIOS["read-write-mix"].calls, fixture, options.timeoutMs, "scenario read-write-mix");
  const samples: SoakSample[] = [];
  const pending: Promise<void>[] = [];
  log(`soak: read-write-mix at ${rps} calls/s for ${minutes} min after ${warmupMs / 1000} s of warm-up; a sample every ${options.sampleIntervalMs / 1000} s`);
  await runLoad(op, {
    concurrency: options.concurrency,
    rps,
    durationMs: soakMs,
    warmupMs,
    timeoutMs: options.timeoutMs,
    sampler: {
      intervalMs: options.sampleIntervalMs,
      onSample: (s) => {
        const rss = treeRssBytes(session.server.pid);
        const sample: SoakSample = {
          elapsedS: s.elapsedMs / 1000,
          callsPerS: s.calls / (options.sampleIntervalMs / 1000),
          errors: s.errors,
          p99Ms: s.latency.p99Ms,
          rssMiB: rss !== undefined ? rss / MiB : undefined,
        };
        samples.push(sample);
        pending.push(
          readHeap(session.server.pid, reportDir).then((heap) => {
            if (heap) {
              sample.heapUsedMiB = heap.used / MiB;
              sample.heapTotalMiB = heap.total / MiB;
            }
            log(
              `  ${sample.elapsedS.toFixed(0)} s: ${sample.callsPerS.toFixed(0)} calls/s, ${sample.errors} errors, p99 ${sample.p99Ms.toFixed(1)} ms, ` +
                `RSS ${sample.rssMiB?.toFixed(1) ?? "n/a"} MiB, heap ${sample.heapUsedMiB?.toFixed(1) ?? "n/a"} MiB`,
            );
          }),
        );
      },
    },
  });
  await Promise.all(pending);
  const rss = samples.map((s) => s.rssMiB).filter((x): x is number => x !== undefined);
  const first = rss[0];
  const deviation = first !== undefined ? Math.max(...rss.map((x) => Math.abs(x - first) / first)) : undefined;
  return {
    rps,
    minutes,
    warmupS: warmupMs / 1000,
    samples,
    rssFirstMiB: first,
    rssMinMiB: rss.length ? Math.min(...rss) : undefined,
    rssMaxMiB: rss.length ? Math.max(...rss) : undefined,
    rssMaxDeviation: deviation,
    rssStable: deviation !== undefined ? deviation <= RSS_TOLERANCE : undefined,
  };
}

export function formatSoakText(r: SoakResult): string {
  const f = (n: number | undefined, d: number) => (n !== undefined && Number.isFinite(n) ? n.toFixed(d) : "n/a");
  const lines = [
    `Soak: read-write-mix at ${r.rps} calls/s (open loop) for ${r.minutes} min after ${r.warmupS} s of warm-up`,
    "",
    "| t (s) | calls/s | errors | p99 ms | RSS MiB | heap used MiB | heap total MiB |",
    "|---:|---:|---:|---:|---:|---:|---:|",
    ...r.samples.map((s) => `| ${f(s.elapsedS, 0)} | ${f(s.callsPerS, 0)} | ${s.errors} | ${f(s.p99Ms, 1)} | ${f(s.rssMiB, 1)} | ${f(s.heapUsedMiB, 1)} | ${f(s.heapTotalMiB, 1)} |`),
    "",
    r.rssStable === undefined
      ? "RSS: not measured (no /proc, or no sample)."
      : `RSS ${r.rssStable ? "stayed" : "did NOT stay"} within ±${RSS_TOLERANCE * 100}% after warm-up: first ${f(r.rssFirstMiB, 1)} MiB, ` +
        `range ${f(r.rssMinMiB, 1)}–${f(r.rssMaxMiB, 1)} MiB, largest deviation ${f((r.rssMaxDeviation ?? NaN) * 100, 1)}%.`,
  ];
  return lines.join("\n") + "\n";
}
