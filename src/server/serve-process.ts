/**
 * One serving process from start to exit: the whole service when WORKERS=1,
 * or one cluster worker. Serves until SIGTERM/SIGINT, then stops gracefully
 * and exits 0; a failed start exits 1 with its reason.
 */
import type { Logger } from "pino";
import type { Config } from "../lib/config.js";
import { startServer, type RunningServer, type ServerOptions } from "./app.js";
import { startTracing, type Tracing } from "./tracing.js";

/** Extra time, past the drain bound, that the rest of a shutdown may take before the process gives up (exit 1). */
export const SHUTDOWN_GRACE_MS = 10_000;

export async function serveProcess(config: Config, logger: Logger, options: ServerOptions = {}, onServing?: (server: RunningServer) => void): Promise<void> {
  let server: RunningServer;
  let tracing: Tracing | undefined;
  try {
    // Loaded only when asked for: without an OTLP endpoint the SDK is never imported.
    if (config.tracing.endpoint) {
      tracing = await startTracing({ serviceName: config.tracing.serviceName });
      logger.info({ endpoint: config.tracing.endpoint }, "tracing: spans go to the OTLP endpoint");
    }
    server = await startServer(config, logger, options);
  } catch (error) {
    // startServer has stopped whatever it had started (jobs, ports, database, embedded server).
    logger.fatal({ err: error }, (error as Error).message);
    process.exit(1);
  }
  // Ctrl-C reaches every process of the foreground group (npm, node, the
  // workers), and some launchers relay it again: later signals do not cut the
  // drain short. The drain itself is bounded; this timer bounds the rest.
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, "signal received");
    if (stopping) return;
    stopping = true;
    setTimeout(() => {
      logger.error("shutdown took too long: exiting");
      process.exit(1);
    }, config.shutdownDrainMs + SHUTDOWN_GRACE_MS).unref();
    server
      .stop()
      .then(() => tracing?.stop())
      .then(
        () => process.exit(0),
        (err) => {
          logger.error({ err }, "shutdown failed");
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  onServing?.(server);
}
