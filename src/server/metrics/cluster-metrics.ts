/**
 * The cluster's metrics (WORKERS > 1): the primary alone binds METRICS_PORT,
 * and each scrape asks every serving worker for its registry over the
 * cluster's IPC channel (cluster-protocol.ts), then sums them with
 * prom-client's AggregatorRegistry.aggregate: counters and histograms add
 * up, as do the pool and in-flight gauges; the database-read gauges come
 * from the jobs worker only. Its own protocol rather than
 * AggregatorRegistry.clusterMetrics(), which asks every forked worker,
 * serving or not, and fails the whole scrape when one is still starting.
 */
import { AggregatorRegistry, Gauge, Registry } from "prom-client";
import type { Logger } from "pino";
import type { MetricsReplyMessage, MetricsRequestMessage } from "../cluster-protocol.js";
import type { Exposition } from "./endpoint.js";

/** Longest a scrape waits for the workers' replies; one that has not answered by then is left out (and counted). 3 s. */
export const WORKER_REPLY_TIMEOUT_MS = 3_000;

/** A serving worker, as the collector needs it. */
export interface MetricsWorker {
  index: number;
  send(message: MetricsRequestMessage): void;
}

export class ClusterMetrics {
  private readonly registry = new Registry();
  private readonly reporting: Gauge;
  private readonly expected: Gauge;
  private nextId = 0;
  private readonly pending = new Map<number, { replies: unknown[][]; waiting: number; done: () => void }>();

  constructor(private readonly logger: Logger) {
    this.reporting = new Gauge({ name: "ledger_cluster_workers_reporting", help: "Workers whose metrics this scrape includes.", registers: [this.registry] });
    this.expected = new Gauge({ name: "ledger_cluster_workers_serving", help: "Workers serving when this scrape began.", registers: [this.registry] });
  }

  /** A worker's reply (the primary's message handler passes it on). */
  reply(message: MetricsReplyMessage): void {
    const request = this.pending.get(message.id);
    if (!request) return; // too late: that scrape has been answered
    request.replies.push(message.metrics);
    if (--request.waiting === 0) request.done();
  }

  /** Asks `workers` and sums what they answer within WORKER_REPLY_TIMEOUT_MS. */
  async render(workers: MetricsWorker[]): Promise<Exposition> {
    const id = this.nextId++;
    const replies: unknown[][] = [];
    await new Promise<void>((resolve) => {
      if (workers.length === 0) return resolve();
      const timer = setTimeout(() => {
        this.logger.warn({ waiting: this.pending.get(id)?.waiting }, "metrics: some workers did not answer in time");
        finish();
      }, WORKER_REPLY_TIMEOUT_MS);
      const finish = () => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve();
      };
      this.pending.set(id, { replies, waiting: workers.length, done: finish });
      for (const w of workers) w.send({ ledgerCluster: "metrics-request", id });
    });
    this.expected.set(workers.length);
    this.reporting.set(replies.length);
    const own = await this.registry.getMetricsAsJSON();
    const aggregated = AggregatorRegistry.aggregate([...replies, own]);
    return { contentType: aggregated.contentType, body: await aggregated.metrics() };
  }
}
