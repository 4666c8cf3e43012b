/**
 * The cluster's primary (WORKERS > 1). It prepares the database once
 * (embedded PostgreSQL when DATABASE_URL is unset, migrations), forks
 * WORKERS workers that serve the same gRPC and Connect ports, and serves no
 * call itself. node:cluster's round-robin scheduling hands each accepted
 * connection to the next worker, so load spreads per connection: an HTTP/2
 * connection, and every call on it, stays with one worker.
 *
 * - Start: every worker must report serving; one that exits first fails the
 *   start (its own log line says why), and the primary stops the others and
 *   the embedded server and exits 1.
 * - A worker that dies later is restarted in its slot, after a back-off that
 *   doubles with its recent crashes; too many (cluster-restarts.ts) and the
 *   primary stops everything and exits 1.
 * - SIGTERM/SIGINT: every worker drains (its own graceful shutdown), then the
 *   embedded server stops, then exit 0 (1 if a worker's shutdown failed).
 *   SIGHUP is relayed to the serving workers (TLS and JWKS reload).
 * - Job wake-ups from the workers' commits are relayed to the jobs worker.
 */
import cluster, { type Worker } from "node:cluster";
import type { Logger } from "pino";
import type { Config } from "../lib/config.js";
import { prepareDatabase, type PreparedDatabase } from "./app.js";
import { createSecurity } from "./security.js";
import { assignmentEnv, clusterMessageOf, JOBS_WORKER_INDEX, type MetricsRequestMessage } from "./cluster-protocol.js";
import { ClusterMetrics } from "./metrics/cluster-metrics.js";
import { serveMetrics, type MetricsEndpoint } from "./metrics/endpoint.js";
import { RestartPolicy } from "./cluster-restarts.js";
import { SHUTDOWN_GRACE_MS } from "./serve-process.js";

interface Slot {
  index: number;
  worker?: Worker;
  /** Resolves once the primary has handled the current worker's exit. */
  gone?: Promise<void>;
  serving: boolean;
  restartTimer?: NodeJS.Timeout;
}

/** After the workers' own bound (drain + grace), how much longer the primary waits before killing what is left. */
const KILL_AFTER_GRACE_MS = 5_000;

export async function runPrimary(config: Config, baseLogger: Logger): Promise<void> {
  const logger = baseLogger.child({ cluster: "primary" });
  let prepared: PreparedDatabase;
  try {
    // As in one process: a bad certificate or policy stops the start before any migration.
    // (Each worker loads its own copy; this one only checks them.)
    (await createSecurity(config.security, logger.child({ check: "security" }))).close();
    prepared = await prepareDatabase(config, logger);
  } catch (error) {
    // prepareDatabase has stopped the embedded server it had started.
    logger.fatal({ err: error }, (error as Error).message);
    process.exit(1);
  }

  // Round-robin by the primary (Node's default except on Windows), said explicitly: leaving accept() to
  // the kernel piles connections onto a few workers.
  cluster.schedulingPolicy = cluster.SCHED_RR;
  const slots: Slot[] = Array.from({ length: config.workers }, (_, index) => ({ index, serving: false }));
  const restarts = new RestartPolicy();
  let allServing = false;
  let stopping: Promise<never> | undefined;
  let exitCode = 0;

  const fork = (slot: Slot, applied: string[]) => {
    const worker = cluster.fork(assignmentEnv({ index: slot.index, databaseUrl: prepared.url, applied }));
    slot.worker = worker;
    slot.serving = false;
    logger.info({ worker: slot.index, pid: worker.process.pid }, "worker started");
    // E.g. a signal to a process that has just gone: reported, never fatal to the primary (an unheard 'error' would be).
    worker.on("error", (err) => logger.warn({ err, worker: slot.index, pid: worker.process.pid }, "worker process error"));
    worker.on("message", (raw) => {
      const message = clusterMessageOf(raw);
      if (!message) return;
      if (message.ledgerCluster === "wake") {
        const jobs = slots[JOBS_WORKER_INDEX]!;
        if (jobs.serving && jobs.worker?.isConnected()) jobs.worker.send(message, undefined, () => undefined);
        return;
      }
      if (message.ledgerCluster === "metrics") {
        clusterMetrics?.reply(message);
        return;
      }
      if (message.ledgerCluster !== "serving") return;
      slot.serving = true;
      if (allServing) {
        logger.info({ worker: slot.index, pid: worker.process.pid }, "worker restarted and serving");
      } else if (slots.every((s) => s.serving)) {
        allServing = true;
        logger.info({ workers: config.workers, grpcPort: message.grpcPort, connectPort: message.connectPort, metricsPort: metricsEndpoint?.port ?? -1, databaseMode: config.databaseMode }, "all workers serving");
      }
    });
    slot.gone = new Promise((resolve) =>
      worker.once("exit", (code, signal) => {
        onExit(slot, worker, code, (signal || null) as NodeJS.Signals | null);
        resolve();
      }),
    );
  };

  const onExit = (slot: Slot, worker: Worker, code: number | null, signal: NodeJS.Signals | null) => {
    if (slot.worker !== worker) return;
    const wasServing = slot.serving;
    slot.worker = undefined;
    slot.serving = false;
    const exit = { worker: slot.index, pid: worker.process.pid, code, signal };
    if (stopping) {
      // Exit 0 after its drain; killed by our SIGTERM before it could install its handlers is no failure either.
      if (code !== 0 && signal !== "SIGTERM") exitCode = 1;
      logger.info(exit, "worker stopped");
      return;
    }
    if (!allServing) {
      logger.fatal(exit, "a worker exited during start-up: stopping");
      void stop(1);
      return;
    }
    const decision = restarts.crashed(slot.index, Date.now());
    if (!decision.restart) {
      logger.fatal({ ...exit, recentCrashes: decision.recentCrashes }, "workers keep crashing: giving up, stopping");
      void stop(1);
      return;
    }
    logger.error({ ...exit, wasServing, recentCrashes: decision.recentCrashes, restart_in_ms: decision.delayMs }, "worker exited: restarting it");
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (!stopping) fork(slot, []);
    }, decision.delayMs);
  };

  const live = () => slots.flatMap((s) => (s.worker && s.worker.process.exitCode === null && s.worker.process.signalCode === null ? [s.worker] : []));
  const dying = () => slots.flatMap((s) => (s.worker && s.gone ? [s.gone] : []));

  const stop = (code: number): Promise<never> =>
    (stopping ??= (async () => {
      exitCode = Math.max(exitCode, code);
      for (const slot of slots) clearTimeout(slot.restartTimer);
      const workers = live();
      logger.info({ workers: workers.length }, "stopping workers");
      const exited = dying();
      // The primary's own signal, not cluster's disconnect: each worker drains exactly as a single process does.
      for (const w of workers) w.process.kill("SIGTERM");
      const killer = setTimeout(() => {
        const left = live();
        logger.error({ workers: left.map((w) => w.process.pid) }, "workers did not stop in time: killing them");
        exitCode = 1;
        for (const w of left) w.process.kill("SIGKILL");
      }, config.shutdownDrainMs + SHUTDOWN_GRACE_MS + KILL_AFTER_GRACE_MS);
      await Promise.all(exited);
      clearTimeout(killer);
      await metricsEndpoint?.close();
      await prepared.embedded?.stop().catch((err: unknown) => {
        logger.error({ err }, "embedded PostgreSQL did not stop cleanly");
        exitCode = 1;
      });
      logger.info({ exitCode }, "stopped");
      process.exit(exitCode);
    })());

  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, "signal received");
    void stop(0);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  // SIGHUP would end the primary (its default action); here it means "reload", for the workers that can.
  // A worker still starting reads the current files anyway.
  process.on("SIGHUP", () => {
    const serving = slots.filter((s) => s.serving && s.worker);
    logger.info({ workers: serving.length }, "SIGHUP: relaying to the workers");
    for (const s of serving) s.worker!.process.kill("SIGHUP");
  });

  // The primary alone binds METRICS_PORT, and asks the serving workers at each scrape.
  let clusterMetrics: ClusterMetrics | undefined;
  let metricsEndpoint: MetricsEndpoint | undefined;
  if (config.metricsPort >= 0) {
    const collector = new ClusterMetrics(logger);
    const serving = () =>
      slots.flatMap((s) => (s.serving && s.worker?.isConnected() ? [{ index: s.index, send: (m: MetricsRequestMessage) => s.worker?.send(m, undefined, () => undefined) }] : []));
    try {
      metricsEndpoint = await serveMetrics(config.metricsHost, config.metricsPort, () => collector.render(serving()), logger);
    } catch (error) {
      logger.fatal({ err: error }, `metrics endpoint: ${(error as Error).message}`);
      await prepared.embedded?.stop().catch(() => undefined);
      process.exit(1);
    }
    clusterMetrics = collector;
  }

  logger.info({ workers: config.workers, poolMaxTotal: config.dbPoolMax }, "starting workers");
  for (const slot of slots) fork(slot, slot.index === JOBS_WORKER_INDEX ? prepared.applied : []);
}
