/**
 * What the cluster's primary and workers tell each other: the assignment a
 * worker is forked with (environment), and the IPC messages after that. Both
 * sides check what they receive; anything else on the channel is ignored.
 */
import type { Jobs } from "./jobs.js";

/** The environment variable carrying a worker's assignment (JSON). Internal: set by the primary, never by hand. */
export const WORKER_ENV = "LEDGER_CLUSTER_WORKER";

/** The worker that runs the background jobs (hold expiry, audit sealing, key purge); restarted like any other. */
export const JOBS_WORKER_INDEX = 0;

/** What a worker is forked with. */
export interface WorkerAssignment {
  /** 0..WORKERS-1, kept by the replacement of a worker that died. */
  index: number;
  /** The database the primary prepared (embedded or given, migrated): the service's runtime URL. */
  databaseUrl: string;
  /** Migrations the primary applied at this start, for the one worker that invalidates cached currencies (Accelerate). */
  applied: string[];
}

/** The primary's side: the environment of a worker's process. */
export function assignmentEnv(assignment: WorkerAssignment): Record<string, string> {
  return { [WORKER_ENV]: JSON.stringify(assignment) };
}

/** The worker's side: its assignment, or undefined when this process was not forked by our primary. */
export function workerAssignment(env: Record<string, string | undefined>): WorkerAssignment | undefined {
  const raw = env[WORKER_ENV];
  if (raw === undefined || raw === "") return undefined;
  const parsed = JSON.parse(raw) as Partial<WorkerAssignment>;
  if (
    !Number.isInteger(parsed.index) ||
    typeof parsed.databaseUrl !== "string" ||
    !Array.isArray(parsed.applied) ||
    !parsed.applied.every((name) => typeof name === "string")
  ) {
    throw new Error(`${WORKER_ENV} is not a worker assignment`);
  }
  return { index: parsed.index!, databaseUrl: parsed.databaseUrl, applied: parsed.applied };
}

/** Worker → primary: both ports serve. */
export interface ServingMessage {
  ledgerCluster: "serving";
  grpcPort: number;
  connectPort: number;
}

/** Worker → primary → the jobs worker: a commit gave `job` work (due at `atMs` when known). */
export interface WakeMessage {
  ledgerCluster: "wake";
  job: string;
  atMs?: number;
}

/** Primary → worker: send your metrics (the primary serves METRICS_PORT for the cluster). */
export interface MetricsRequestMessage {
  ledgerCluster: "metrics-request";
  id: number;
}

/** Worker → primary: its registry as prom-client's JSON (`getMetricsAsJSON`), for AggregatorRegistry.aggregate. */
export interface MetricsReplyMessage {
  ledgerCluster: "metrics";
  id: number;
  metrics: unknown[];
}

export type ClusterMessage = ServingMessage | WakeMessage | MetricsRequestMessage | MetricsReplyMessage;

/** A message of ours, checked; undefined for anything else (Node's own cluster messages included). */
export function clusterMessageOf(message: unknown): ClusterMessage | undefined {
  if (typeof message !== "object" || message === null) return undefined;
  const m = message as Record<string, unknown>;
  if (m.ledgerCluster === "serving" && Number.isInteger(m.grpcPort) && Number.isInteger(m.connectPort)) {
    return { ledgerCluster: "serving", grpcPort: m.grpcPort as number, connectPort: m.connectPort as number };
  }
  if (m.ledgerCluster === "wake" && typeof m.job === "string" && (m.atMs === undefined || Number.isFinite(m.atMs))) {
    return { ledgerCluster: "wake", job: m.job, ...(m.atMs === undefined ? {} : { atMs: m.atMs as number }) };
  }
  if (m.ledgerCluster === "metrics-request" && Number.isInteger(m.id)) return { ledgerCluster: "metrics-request", id: m.id as number };
  if (m.ledgerCluster === "metrics" && Number.isInteger(m.id) && Array.isArray(m.metrics)) {
    return { ledgerCluster: "metrics", id: m.id as number, metrics: m.metrics };
  }
  return undefined;
}

/**
 * The jobs as a worker that does not run them sees them: each wake-up its
 * commits produce is sent towards the jobs worker, coalesced so a busy
 * worker sends a few messages per interval, not one per commit.
 *
 * - A plain wake ("work is coming, run within your interval") is sent at most
 *   once per `minGapMs`. One dropped is covered by the one sent before it:
 *   that one scheduled a run at most an interval after it was sent, later
 *   than the dropped wake's commit, as long as `minGapMs` is at most the
 *   job's interval.
 * - A wake at a time (the next hold's expiry) is sent unless one for an
 *   earlier or equal time is still ahead: that run reads the next due time
 *   from the database, which includes this one.
 */
export function remoteJobs(send: (message: WakeMessage) => void, minGapMs: number, now: () => number = Date.now): Jobs {
  const lastPlainAt = new Map<string, number>();
  const dueAhead = new Map<string, number>();
  return {
    wake(job, at) {
      const t = now();
      if (at) {
        const due = at.getTime();
        const ahead = dueAhead.get(job);
        if (ahead !== undefined && ahead > t && ahead <= due) return;
        dueAhead.set(job, due);
        send({ ledgerCluster: "wake", job, atMs: due });
        return;
      }
      const last = lastPlainAt.get(job);
      if (last !== undefined && t - last < minGapMs) return;
      lastPlainAt.set(job, t);
      send({ ledgerCluster: "wake", job });
    },
    async stop() {},
  };
}
