/**
 * Suite mode: each selected scenario against its baselines, in alternating
 * windows on the same PostgreSQL server (service, pgbench, raw SQL, service,
 * pgbench, raw SQL, …: `rounds` times through one scenario's windows, then
 * the next scenario); the report takes medians. Also the one-at-a-time
 * latencies and Transfer's p99 at 25/50/75% of its measured peak (open
 * loop, --rps; the peak is the median of the rounds so far).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { oneLine } from "./aggregate.js";
import { findPgbench, initPgbench, runPgbench, type Pgbench } from "./baselines/pgbench.js";
import { openRawSql } from "./baselines/raw-sql.js";
import { startEchoServer, type EchoServer } from "./baselines/echo.js";
import { Connections } from "./client.js";
import type { BenchOptions } from "./flags.js";
import { grpcOp } from "./grpc-op.js";
import type { LoadOptions, Op } from "./load.js";
import { failedRecord, measuredLoad, type RunRecord, type Target } from "./measure.js";
import { SCENARIOS, HEALTH_CHECK, HEALTH_DATA, type ScenarioName } from "./scenarios.js";
import type { Session } from "./session.js";
import { median } from "./stats.js";
import type { Fixture } from "./template.js";

/** Fractions of the measured peak at which Transfer's p99 is taken. */
export const RATE_FRACTIONS = [0.25, 0.5, 0.75] as const;
/** pgbench clients and threads, as specified for the baseline. */
export const PGBENCH_CLIENTS = 16;
/** Pause between windows so one window's tail (autovacuum, WAL flush) lands less in the next. */
const PAUSE_MS = 500;

export interface SuiteResult {
  records: RunRecord[];
  notes: string[];
}

interface Window {
  key: string;
  target: Target;
  scenario: string;
  label: string;
  concurrency: number;
  run(round: number): Promise<RunRecord>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runSuite(options: BenchOptions, session: Session, log: (line: string) => void): Promise<SuiteResult> {
  const notes: string[] = [];
  const records: RunRecord[] = [];
  const selected = new Set<ScenarioName>(options.scenarios);
  const transfers = selected.has("transfer-uniform") || selected.has("transfer-hot");
  const C = options.concurrency;
  const probes = { serverPid: session.server.pid, postmasterPid: session.db.postmasterPid };
  notes.push(
    probes.postmasterPid === undefined
      ? "PostgreSQL is not on this machine (or not visible in /proc): its CPU is not measured."
      : "PostgreSQL CPU is that of all the server's processes over the window: other clients of the same server count too.",
  );

  const needsFixture = [...selected].some((s) => s !== "health");
  const fixture: Fixture | undefined = needsFixture ? await session.seed("s", options.accounts) : undefined;

  // ── baselines ──
  let rawFixture: Fixture | undefined;
  let pgbench: Pgbench | undefined;
  let echo: EchoServer | undefined;
  let echoConn: Connections | undefined;
  if (options.baselines && transfers) {
    rawFixture = await session.seed("r", options.accounts);
    const bin = findPgbench(options.pgbench);
    if (!bin) {
      notes.push(`pgbench not found (${options.pgbench ?? "not on PATH"}): the pgbench baselines are skipped.`);
    } else {
      const workDir = await mkdtemp(join(tmpdir(), "lor-bench-pgbench-"));
      session.onClose(() => rm(workDir, { recursive: true, force: true }));
      const db = await session.db.createDatabase("pgbench");
      const p: Pgbench = { bin, url: db.url, workDir, scale: options.pgbenchScale, postmasterPid: probes.postmasterPid };
      const t0 = performance.now();
      log(`pgbench -i -s ${options.pgbenchScale} into ${db.name} …`);
      try {
        await initPgbench(p);
        pgbench = p;
        log(`  initialised in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      } catch (error) {
        notes.push(`pgbench -i failed, pgbench baselines skipped: ${(error as Error).message}`);
      }
    }
  }
  if (options.baselines && selected.has("health")) {
    echo = await startEchoServer();
    session.onClose(() => echo!.stop());
    echoConn = new Connections({ target: echo.target, tls: { insecure: true }, connections: options.connections });
    session.onClose(() => echoConn!.close());
  }
  if (!options.baselines) notes.push("--no-baselines: service windows only.");

  // ── windows ──
  const load = (concurrency: number, rps?: number): LoadOptions => ({
    concurrency,
    rps,
    total: options.total,
    durationMs: options.durationMs,
    warmupMs: options.warmupMs,
    timeoutMs: options.timeoutMs,
  });
  const ops = new Map<ScenarioName, Op>();
  for (const name of selected) ops.set(name, grpcOp(session.conn, SCENARIOS[name].calls, fixture, options.timeoutMs, `scenario ${name}`));
  const healthOnEcho = echoConn ? grpcOp(echoConn, [{ call: HEALTH_CHECK, data: HEALTH_DATA, weight: 1 }], undefined, options.timeoutMs) : undefined;

  const service = (name: ScenarioName, concurrency: number, suffix: string, label: string, rpsOf?: () => number): Window => {
    const key = `service/${name}${suffix}`;
    return {
      key, target: "service", scenario: name, label, concurrency,
      run: async (round) => {
        const rps = rpsOf?.();
        if (rps !== undefined && !Number.isFinite(rps)) throw new Error("no peak rate measured to derive --rps from");
        return measuredLoad(ops.get(name)!, load(concurrency, rps), probes, { key, target: "service", scenario: name, label, round });
      },
    };
  };
  const pgbenchWindow = (hot: boolean, clients: number): Window => {
    const key = `pgbench/${hot ? "hot" : "uniform"}${clients === 1 ? "/c1" : ""}`;
    const label = `pgbench ${hot ? "hot" : "uniform"}, c=${clients}`;
    const scenario = hot ? "transfer-hot" : "transfer-uniform";
    return {
      key,
      target: "pgbench",
      scenario,
      label,
      concurrency: clients,
      run: async (round): Promise<RunRecord> => {
        const seconds = Math.max(1, Math.round(options.durationMs / 1000));
        const r = await runPgbench(pgbench!, { hot, clients, seconds, warmupSeconds: Math.round(options.warmupMs / 1000), logLatencies: clients === 1 });
        const failed = r.failed ?? 0;
        const count = r.transactions ?? Math.round(r.tps * seconds);
        return {
          key, target: "pgbench", scenario, label, round, concurrency: clients,
          count, durationS: seconds, callsPerS: r.tps, latency: r.latency,
          statusCounts: failed ? { OK: count - failed, FAILED: failed } : ({ OK: count } as Record<string, number>),
          firstErrors: {}, dbCpuMsPerCall: r.dbCpuMsPerCall, command: r.command,
        };
      },
    };
  };
  const rawWindow = (hot: boolean): Window => {
    const key = `raw-sql/${hot ? "hot" : "uniform"}`;
    const label = `raw SQL (pg, prepared) ${hot ? "hot" : "uniform"}, c=${C}`;
    const scenario = hot ? "transfer-hot" : "transfer-uniform";
    return {
      key, target: "raw-sql", scenario, label, concurrency: C,
      run: async (round) => {
        const raw = await openRawSql(session.serviceDatabase.url, rawFixture!.accounts, { connections: C, hot });
        try {
          return await measuredLoad(raw.op, load(C), { postmasterPid: probes.postmasterPid }, { key, target: "raw-sql", scenario, label, round });
        } finally {
          await raw.close();
        }
      },
    };
  };
  const echoWindow = (concurrency: number): Window => {
    const key = `echo/health${concurrency === 1 ? "/c1" : ""}`;
    const label = `bare grpc-js echo Health/Check, c=${concurrency}`;
    return {
      key, target: "echo", scenario: "health", label, concurrency,
      run: (round) => measuredLoad(healthOnEcho!, load(concurrency), { serverPid: echo!.pid }, { key, target: "echo", scenario: "health", label, round }),
    };
  };

  const peak = () => median(records.filter((r) => r.key === "service/transfer-uniform" && !r.error).map((r) => r.callsPerS));
  // Per scenario, its windows in the order they alternate; the rounds go through one scenario before the next.
  const groups: Window[][] = [];
  for (const name of options.scenarios) {
    const windows: Window[] = [service(name, C, "", `service ${name}, c=${C}`)];
    if (name === "transfer-uniform" || name === "transfer-hot") {
      const hot = name === "transfer-hot";
      if (pgbench) windows.push(pgbenchWindow(hot, PGBENCH_CLIENTS));
      if (rawFixture) windows.push(rawWindow(hot));
    }
    if (name === "transfer-uniform") {
      windows.push(service(name, 1, "/c1", "service Transfer uniform, one at a time (c=1)"));
      if (pgbench) windows.push(pgbenchWindow(false, 1));
      for (const f of RATE_FRACTIONS) {
        const pct = Math.round(f * 100);
        windows.push(service(name, C, `/rps${pct}`, `service Transfer uniform at ${pct}% of peak (--rps, cap c=${C})`, () => Math.max(1, Math.round(peak() * f))));
      }
    }
    if (name === "get-balance") windows.push(service(name, 1, "/c1", "service GetBalance, one at a time (c=1)"));
    if (name === "health") {
      if (echo) windows.push(echoWindow(C));
      windows.push(service(name, 1, "/c1", "service Health/Check, one at a time (c=1)"));
      if (echo) windows.push(echoWindow(1));
    }
    groups.push(windows);
  }

  for (const windows of groups) {
    for (let round = 1; round <= options.rounds; round++) {
      for (const w of windows) {
        let record: RunRecord;
        try {
          record = await w.run(round);
        } catch (error) {
          record = failedRecord({ key: w.key, target: w.target, scenario: w.scenario, label: w.label, round, concurrency: w.concurrency }, error);
        }
        records.push(record);
        log(
          `round ${round}/${options.rounds} ${w.label}: ` +
            (record.error
              ? `FAILED: ${oneLine(record.error)}`
              : `${record.callsPerS.toFixed(0)} calls/s, p99 ${record.latency?.p99Ms.toFixed(2) ?? "n/a"} ms` +
                (record.serverCpuMsPerCall !== undefined ? `, server CPU ${record.serverCpuMsPerCall.toFixed(3)} ms/call` : "")),
        );
        await sleep(PAUSE_MS);
      }
    }
  }
  return { records, notes };
}
