/**
 * The service's Prometheus instruments, in a registry of its own (one per
 * running server, so several in one test process do not mix). Names follow
 * OpenTelemetry's semantic conventions where there is one (rpc.server.*,
 * db.client.connection.*), in Prometheus spelling; the ledger's own are
 * `ledger_*`. README.md "Metrics" lists every family.
 *
 * Per call the cost is a few map look-ups and additions: the label children
 * of each (transport, method, code) are built once and kept.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Observer, RetryCause } from "../../domain/observer.js";
import type { PoolStats } from "../../lib/prisma.js";

/** `rpc.system`: the grpc-js port is `grpc`; the connect-node port (Connect, gRPC-Web, gRPC) is `connect_rpc`. */
export type RpcSystem = "grpc" | "connect_rpc";

/** What a transport tells the metrics about each call: its start, and its end with the status code. */
export interface CallMetrics {
  callStarted(system: RpcSystem, path: string): void;
  /** `code`: the gRPC status code (0 = OK). */
  callFinished(system: RpcSystem, path: string, code: number, durationSeconds: number): void;
}

/** Latency buckets, seconds: sub-millisecond reads to the 30 s deadline cap. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Transfer group sizes: powers of two up to TRANSFER_GROUP_MAX's ceiling. */
const GROUP_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000];
/** Queue waits of grouped transfers, seconds. */
const WAIT_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

const CALL_LABELS = ["rpc_system", "rpc_service", "rpc_method", "rpc_grpc_status_code"] as const;

/** `/package.Service/Method` → its service and method, split once per path. */
const splitPaths = new Map<string, { service: string; method: string }>();
function splitPath(path: string): { service: string; method: string } {
  let split = splitPaths.get(path);
  if (!split) {
    const at = path.lastIndexOf("/");
    split = { service: path.slice(1, at), method: path.slice(at + 1) };
    // Paths are the served methods (a fixed set); the bound only guards against surprises.
    if (splitPaths.size < 10_000) splitPaths.set(path, split);
  }
  return split;
}

interface CallSeries {
  calls: Counter.Internal;
  duration: Histogram.Internal<(typeof CALL_LABELS)[number]>;
}

export interface ServerMetricsOptions {
  /** The direct client's pool counters, read at each scrape; undefined over Accelerate. Default: no pool gauges. */
  pool?: () => PoolStats | undefined;
  /** Node.js process metrics (CPU, memory, event-loop delay, GC). Default true. */
  processMetrics?: boolean;
}

export class ServerMetrics implements CallMetrics, Observer {
  readonly registry = new Registry();
  private readonly calls: Counter<(typeof CALL_LABELS)[number]>;
  private readonly duration: Histogram<(typeof CALL_LABELS)[number]>;
  private readonly active: Gauge<"rpc_system" | "rpc_service" | "rpc_method">;
  private readonly retries: Counter<"cause">;
  private readonly groupSize: Histogram;
  private readonly groupWait: Histogram;
  private readonly replays: Counter<"rpc_service" | "rpc_method" | "kind">;
  private readonly series = new Map<string, CallSeries>();
  private readonly activeSeries = new Map<string, Gauge.Internal<"rpc_system" | "rpc_service" | "rpc_method">>();

  constructor(options: ServerMetricsOptions = {}) {
    const registers = [this.registry];
    this.calls = new Counter({
      name: "rpc_server_calls_total",
      help: "Unary calls finished, by transport, service, method and gRPC status code.",
      labelNames: CALL_LABELS,
      registers,
    });
    this.duration = new Histogram({
      name: "rpc_server_duration_seconds",
      help: "Server-side duration of unary calls, from the request's arrival to the answer (OpenTelemetry rpc.server.duration).",
      labelNames: CALL_LABELS,
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.active = new Gauge({
      name: "rpc_server_active_calls",
      help: "Calls in flight: arrived and not yet answered.",
      labelNames: ["rpc_system", "rpc_service", "rpc_method"],
      registers,
    });
    this.retries = new Counter({
      name: "ledger_transaction_retries_total",
      help: "Whole transactions run again after a conflict, by cause (serialization_failure 40001, deadlock 40P01, write_conflict).",
      labelNames: ["cause"],
      registers,
    });
    this.groupSize = new Histogram({
      name: "ledger_transfer_group_size",
      help: "Transfers committed together in one group-commit statement.",
      buckets: GROUP_SIZE_BUCKETS,
      registers,
    });
    this.groupWait = new Histogram({
      name: "ledger_transfer_group_wait_seconds",
      help: "How long each transfer waited in the group-commit queue before its group went to the database.",
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.replays = new Counter({
      name: "ledger_idempotency_replays_total",
      help: "Calls answered from the stored outcome of an earlier call with the same idempotency key (kind: reply or refusal).",
      labelNames: ["rpc_service", "rpc_method", "kind"],
      registers,
    });
    for (const cause of ["serialization_failure", "deadlock", "write_conflict"] as const) this.retries.inc({ cause }, 0);
    if (options.pool) addPoolGauges(this.registry, options.pool);
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  callStarted(system: RpcSystem, path: string): void {
    const key = system + path;
    let gauge = this.activeSeries.get(key);
    if (!gauge) {
      const { service, method } = splitPath(path);
      gauge = this.active.labels({ rpc_system: system, rpc_service: service, rpc_method: method });
      this.activeSeries.set(key, gauge);
    }
    gauge.inc();
  }

  callFinished(system: RpcSystem, path: string, code: number, durationSeconds: number): void {
    this.activeSeries.get(system + path)?.dec();
    const key = `${system}${path}#${code}`;
    let s = this.series.get(key);
    if (!s) {
      const { service, method } = splitPath(path);
      const labels = { rpc_system: system, rpc_service: service, rpc_method: method, rpc_grpc_status_code: String(code) };
      s = { calls: this.calls.labels(labels), duration: this.duration.labels(labels) };
      this.series.set(key, s);
    }
    s.calls.inc();
    s.duration.observe(durationSeconds);
  }

  transactionRetried(cause: RetryCause): void {
    this.retries.inc({ cause });
  }

  transferGroupStarted(size: number, waitsSeconds: readonly number[]): void {
    this.groupSize.observe(size);
    for (const wait of waitsSeconds) this.groupWait.observe(wait);
  }

  idempotencyReplayed(path: string, kind: "reply" | "refusal"): void {
    const { service, method } = splitPath(path);
    this.replays.inc({ rpc_service: service, rpc_method: method, kind });
  }
}

/** The pg pool's counters, read when scraped (OpenTelemetry db.client.connection.*). */
function addPoolGauges(registry: Registry, pool: () => PoolStats | undefined): void {
  const registers = [registry];
  new Gauge({
    name: "db_client_connection_count",
    help: "Connections of the pg pool, by state: idle, or used (lent to a query or transaction).",
    labelNames: ["state"],
    registers,
    collect() {
      const stats = pool();
      if (!stats) return;
      this.set({ state: "idle" }, stats.idle);
      this.set({ state: "used" }, stats.total - stats.idle);
    },
  });
  new Gauge({
    name: "db_client_connection_max",
    help: "The pg pool's bound (DB_POOL_MAX, or this worker's share of it).",
    registers,
    collect() {
      const stats = pool();
      if (stats) this.set(stats.max);
    },
  });
  new Gauge({
    name: "db_client_connection_pending_requests",
    help: "Callers waiting for a pg pool connection.",
    registers,
    collect() {
      const stats = pool();
      if (stats) this.set(stats.waiting);
    },
  });
}
