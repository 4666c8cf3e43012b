/** Entry point: `npm start`. Serves until SIGTERM/SIGINT, then stops gracefully and exits 0. */
import { loadConfig } from "../lib/config.js";
import { createLogger } from "../lib/logger.js";
import { startServer } from "./app.js";

const logger = createLogger();
let config;
try {
  config = loadConfig();
} catch (error) {
  logger.fatal((error as Error).message);
  process.exit(2);
}
logger.level = config.logLevel;

try {
  const server = await startServer(config, logger);
  // Ctrl-C reaches every process of the foreground group (npm, node), and
  // some launchers relay it again: later signals do not cut the drain short.
  // The drain itself is bounded; this timer bounds the rest of the shutdown.
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, "signal received");
    if (stopping) return;
    stopping = true;
    setTimeout(() => {
      logger.error("shutdown took too long: exiting");
      process.exit(1);
    }, config.shutdownDrainMs + 10_000).unref();
    server.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
} catch (error) {
  logger.fatal({ err: error }, (error as Error).message);
  process.exit(1);
}
