/**
 * One measured window with CPU accounting: the load, plus the CPU the server
 * process tree (and the local PostgreSQL) used over exactly that window,
 * from /proc utime+stime.
 */
import { runLoad, type LoadOptions, type Op } from "./load.js";
import { treeCpu, treeCpuDelta, type TreeCpu } from "./proc.js";
import type { LatencySummary } from "./stats.js";

/** What kind of thing a window measured. */
export type Target = "service" | "pgbench" | "raw-sql" | "echo";

/** One measured window, in every report. */
export interface RunRecord {
  /** Windows with the same key are rounds of one measurement (medians are taken over them). */
  key: string;
  target: Target;
  scenario: string;
  /** Human description, e.g. "Transfer uniform, c=64". */
  label: string;
  round: number;
  concurrency: number;
  rps?: number;
  count: number;
  durationS: number;
  callsPerS: number;
  latency?: LatencySummary;
  statusCounts: Record<string, number>;
  firstErrors: Record<string, string>;
  perLabel?: Record<string, number>;
  /** Server process tree CPU per finished call, ms. */
  serverCpuMsPerCall?: number;
  /** Local PostgreSQL CPU per finished call, ms. */
  dbCpuMsPerCall?: number;
  /** Bench (client) process CPU, % of one core: near 100 means the client, not the server, was the limit. */
  clientCpuPct?: number;
  /** Open loop: calls that waited for a free slot / were dropped. */
  delayed?: number;
  dropped?: number;
  stillInFlight?: number;
  /** The command, for baselines run as a program. */
  command?: string;
  /** Set when the window failed as a whole; the other fields are then empty. */
  error?: string;
}

export interface Probes {
  /** Root of the measured server's process tree. */
  serverPid?: number;
  /** Local postmaster (its tree is PostgreSQL). */
  postmasterPid?: number;
}

export async function measuredLoad(
  op: Op,
  options: LoadOptions,
  probes: Probes,
  meta: Pick<RunRecord, "key" | "target" | "scenario" | "label" | "round">,
): Promise<RunRecord> {
  let server0: TreeCpu | undefined, db0: TreeCpu | undefined, server1: TreeCpu | undefined, db1: TreeCpu | undefined;
  const load = await runLoad(op, {
    ...options,
    onWindowStart: () => {
      server0 = treeCpu(probes.serverPid);
      db0 = treeCpu(probes.postmasterPid);
    },
    onWindowEnd: () => {
      server1 = treeCpu(probes.serverPid);
      db1 = treeCpu(probes.postmasterPid);
    },
  });
  const per = (ms: number | undefined) => (ms !== undefined && load.count > 0 ? ms / load.count : undefined);
  return {
    ...meta,
    concurrency: options.concurrency,
    rps: options.rps,
    count: load.count,
    durationS: load.elapsedMs / 1000,
    callsPerS: load.callsPerS,
    latency: load.latency,
    statusCounts: load.statusCounts,
    firstErrors: load.firstErrors,
    perLabel: Object.keys(load.perLabel).length > 1 ? load.perLabel : undefined,
    serverCpuMsPerCall: per(treeCpuDelta(server0, server1)),
    dbCpuMsPerCall: per(treeCpuDelta(db0, db1)),
    clientCpuPct: load.clientCpuPct,
    delayed: options.rps !== undefined ? load.delayed : undefined,
    dropped: options.rps !== undefined ? load.dropped : undefined,
    stillInFlight: load.stillInFlight || undefined,
  };
}

/** A window that could not run at all (a baseline whose tool is missing or broken). */
export function failedRecord(meta: Pick<RunRecord, "key" | "target" | "scenario" | "label" | "round" | "concurrency">, error: unknown): RunRecord {
  return { ...meta, count: 0, durationS: 0, callsPerS: NaN, statusCounts: {}, firstErrors: {}, error: (error as Error).message ?? String(error) };
}
