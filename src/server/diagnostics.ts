/**
 * The opt-in diagnostics line (`DIAGNOSTICS_INTERVAL_MS` > 0): every interval
 * each serving process logs `msg: "diagnostics"` with its RSS, V8 heap,
 * external memory and the event-loop delay (p50/p99/max over the interval,
 * from perf_hooks' histogram), at info whatever LOG_LEVEL is. The soak (bench/soak.ts) and the HTTP/2 abuse
 * test read these lines to watch the server from outside.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { Logger } from "pino";

const MiB = 1024 * 1024;
const round = (n: number) => Math.round(n * 10) / 10;

export interface Diagnostics {
  stop(): void;
}

export function startDiagnostics(logger: Logger, intervalMs: number): Diagnostics {
  if (intervalMs <= 0) return { stop: () => undefined };
  // Asked for explicitly, so logged whatever LOG_LEVEL says (a child logger at info).
  const log = logger.child({}, { level: "info" });
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    const ms = (ns: number) => round(ns / 1e6);
    log.info(
      {
        rssMiB: round(m.rss / MiB),
        heapUsedMiB: round(m.heapUsed / MiB),
        heapTotalMiB: round(m.heapTotal / MiB),
        externalMiB: round(m.external / MiB),
        eventLoopDelayMs: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) },
      },
      "diagnostics",
    );
    loop.reset();
  }, intervalMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      loop.disable();
    },
  };
}
