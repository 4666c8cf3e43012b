import { pino, type Logger } from "pino";

/**
 * One pino logger for the process. JSON lines in production; pretty output
 * when stdout is a terminal (pino-pretty is a dev dependency, so it is only
 * tried then). Credentials never reach a log line: the paths below are
 * redacted wherever they appear.
 */
export function createLogger(level: string = process.env.LOG_LEVEL || "info"): Logger {
  const pretty = process.stdout.isTTY && process.env.LOG_PRETTY !== "false";
  return pino({
    level,
    base: { service: "ledger-of-record" },
    redact: {
      paths: [
        "databaseUrl",
        "directDatabaseUrl",
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
    ...(pretty ? { transport: { target: "pino-pretty", options: { colorize: true } } } : {}),
  });
}

export type { Logger };
