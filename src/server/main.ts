/**
 * Entry point: `npm start`. Serves until SIGTERM/SIGINT, then stops gracefully and exits 0.
 *
 * WORKERS=1: the service in this one process. Otherwise this process is the
 * primary of a node:cluster (cluster-primary.ts), and the processes it forks
 * run this file again as workers (cluster-worker.ts).
 */
import cluster from "node:cluster";
import { loadConfig } from "../lib/config.js";
import { createLogger } from "../lib/logger.js";
import { runPrimary } from "./cluster-primary.js";
import { workerAssignment } from "./cluster-protocol.js";
import { runWorker } from "./cluster-worker.js";
import { serveProcess } from "./serve-process.js";

let config;
try {
  config = loadConfig();
} catch (error) {
  // No configuration yet, so no configured logger: one JSON line, then out.
  createLogger().fatal((error as Error).message);
  process.exit(2);
}
const logger = createLogger({ level: config.logLevel, pretty: config.logPretty });

const assignment = cluster.isWorker ? workerAssignment(process.env) : undefined;
if (assignment) {
  await runWorker(config, logger, assignment);
} else if (config.workers === 1 || cluster.isWorker) {
  // A worker of some other supervisor's cluster (pm2 and the like): that supervisor does the forking.
  await serveProcess(config, logger);
} else {
  await runPrimary(config, logger);
}
