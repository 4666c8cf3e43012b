/** A serving process's metrics, as app.ts builds and serves them. */
import type { Logger } from "pino";
import type { Config } from "../../lib/config.js";
import { poolStatsOf, type Db } from "../../lib/prisma.js";
import { readBacklog, readPostedSums } from "../../store/backlog-store.js";
import { serveMetrics, type MetricsEndpoint } from "./endpoint.js";
import { ServerMetrics } from "./instruments.js";
import { addLedgerGauges } from "./ledger-gauges.js";

/**
 * This process's metrics, or undefined when METRICS_PORT=-1 (then nothing
 * is collected). The process that runs the background jobs (one per
 * cluster) also reads the jobs' backlog and the posted sums at scrape time.
 */
export function createProcessMetrics(config: Config, db: Db, runsJobs: boolean, logger: Logger): ServerMetrics | undefined {
  if (config.metricsPort < 0) return undefined;
  const metrics = new ServerMetrics({ pool: () => poolStatsOf(db) });
  if (runsJobs) addLedgerGauges(metrics.registry, { backlog: () => readBacklog(db), postedSums: () => readPostedSums(db) }, logger);
  return metrics;
}

/** Serves `metrics` at GET /metrics on METRICS_HOST:METRICS_PORT. */
export function serveProcessMetrics(config: Config, metrics: ServerMetrics, logger: Logger): Promise<MetricsEndpoint> {
  const { registry } = metrics;
  return serveMetrics(config.metricsHost, config.metricsPort, async () => ({ contentType: registry.contentType, body: await registry.metrics() }), logger);
}
