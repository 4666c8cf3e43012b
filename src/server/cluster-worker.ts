/**
 * A cluster worker: the service on the primary's database (no embedded
 * server, no migrations), on the ports every worker shares, with its own
 * share of the pool, its own group commit, health and call limits. One
 * worker (JOBS_WORKER_INDEX) runs the background jobs; the others send it
 * the wake-ups of their commits through the primary.
 */
import type { Logger } from "pino";
import type { Config } from "../lib/config.js";
import { poolShareOf } from "../lib/config-workers.js";
import { clusterMessageOf, JOBS_WORKER_INDEX, remoteJobs, type ClusterMessage, type WorkerAssignment } from "./cluster-protocol.js";
import { serveProcess } from "./serve-process.js";

/** Sends to the primary; a closed channel means the primary is gone, and Node's cluster then ends this worker. */
function sendToPrimary(message: ClusterMessage): void {
  if (!process.connected || !process.send) return;
  process.send(message, undefined, undefined, () => undefined);
}

export async function runWorker(config: Config, baseLogger: Logger, assignment: WorkerAssignment): Promise<void> {
  const { index } = assignment;
  // Every line says which worker wrote it; the pid tells a restarted worker from its predecessor.
  const logger = baseLogger.child({ cluster: "worker", worker: index, pid: process.pid });
  const runJobs = index === JOBS_WORKER_INDEX;
  // At most the jobs' shortest interval (see remoteJobs), halved for margin.
  const wakeGapMs = Math.max(1, Math.floor(Math.min(config.auditSealIntervalMs, config.holdExpiryIntervalMs) / 2));
  await serveProcess(
    { ...config, dbPoolMax: poolShareOf(config.dbPoolMax, config.workers, index) },
    logger,
    {
      database: { url: assignment.databaseUrl, applied: assignment.applied },
      runJobs,
      remoteJobs: runJobs ? undefined : remoteJobs(sendToPrimary, wakeGapMs),
      applicationName: `ledger-of-record/worker-${index}`,
      // The primary serves METRICS_PORT; it asks this worker for its registry at each scrape.
      metricsEndpoint: false,
    },
    (server) => {
      if (runJobs) logger.info("this worker runs the background jobs");
      process.on("message", (raw) => {
        const message = clusterMessageOf(raw);
        if (message?.ledgerCluster === "wake") server.wakeJob(message.job, message.atMs === undefined ? undefined : new Date(message.atMs));
        if (message?.ledgerCluster === "metrics-request") {
          const id = message.id;
          (server.metrics?.registry.getMetricsAsJSON() ?? Promise.resolve([])).then(
            (metrics) => sendToPrimary({ ledgerCluster: "metrics", id, metrics }),
            (err: unknown) => {
              logger.warn({ err }, "metrics: collection failed");
              sendToPrimary({ ledgerCluster: "metrics", id, metrics: [] });
            },
          );
        }
      });
      sendToPrimary({ ledgerCluster: "serving", grpcPort: server.grpcPort, connectPort: server.connectPort });
    },
  );
}
