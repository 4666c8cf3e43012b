import { createRequire } from "node:module";
import { pino, type Logger } from "pino";

export interface LoggerOptions {
  /** pino level (`silent` … `trace`). Default `info`. */
  level?: string;
  /**
   * Human-readable lines through pino-pretty. Default false. pino-pretty is a
   * development dependency: where it is not installed (the production image)
   * the logger says so and writes JSON lines, instead of failing.
   */
  pretty?: boolean;
}

/** Where pino-pretty is installed, its resolved path; else undefined. */
function prettyTransport(): string | undefined {
  try {
    return createRequire(import.meta.url).resolve("pino-pretty");
  } catch {
    return undefined;
  }
}

/**
 * One pino logger for the process: JSON lines, one per event. Credentials
 * never reach a log line: the paths below are redacted wherever they appear.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const prettyTarget = options.pretty ? prettyTransport() : undefined;
  const logger = pino({
    level: options.level ?? "info",
    base: { service: "ledger-of-record" },
    redact: {
      paths: [
        "databaseUrl",
        "directDatabaseUrl",
        "migrationDatabaseUrl",
        "*.databaseUrl",
        "*.password",
        "password",
        "authorization",
        "*.authorization",
        "headers.authorization",
        "metadata.authorization",
        "apiKey",
        "*.apiKey",
      ],
      censor: "[redacted]",
    },
    ...(prettyTarget ? { transport: { target: prettyTarget, options: { colorize: true } } } : {}),
  });
  if (options.pretty && !prettyTarget) logger.warn("LOG_PRETTY is set but pino-pretty is not installed: writing JSON lines");
  return logger;
}

export type { Logger };
