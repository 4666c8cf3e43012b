/**
 * When the primary restarts a worker that died, and when it gives up: each
 * worker slot keeps its recent crashes; the delay doubles with every crash
 * still in the window, and too many in the window mean the primary cannot
 * keep workers up (it then stops and exits non-zero, so whatever supervises
 * the instance sees it fail instead of a crash loop spinning in the dark).
 */

export interface RestartLimits {
  /** Delay before restarting after the first recent crash. Default 100 ms: a one-off crash costs little capacity. */
  baseDelayMs: number;
  /** Longest delay between restarts. Default 5000 ms: bounds the time a slot stays empty. */
  maxDelayMs: number;
  /** Crashes of one slot within `windowMs` that make the primary give up. Default 5. */
  maxCrashes: number;
  /** How long a crash counts. Default 60000 ms: a worker that served a minute has earned a fresh start. */
  windowMs: number;
}

export const DEFAULT_RESTART_LIMITS: RestartLimits = { baseDelayMs: 100, maxDelayMs: 5_000, maxCrashes: 5, windowMs: 60_000 };

export type RestartDecision = { restart: true; delayMs: number; recentCrashes: number } | { restart: false; recentCrashes: number };

/** Crash bookkeeping for worker slots. */
export class RestartPolicy {
  private readonly crashes = new Map<number, number[]>();

  constructor(private readonly limits: RestartLimits = DEFAULT_RESTART_LIMITS) {}

  /** Records a crash of `slot` at `nowMs`; says whether to restart it and after how long. */
  crashed(slot: number, nowMs: number): RestartDecision {
    const recent = (this.crashes.get(slot) ?? []).filter((at) => nowMs - at < this.limits.windowMs);
    recent.push(nowMs);
    this.crashes.set(slot, recent);
    if (recent.length >= this.limits.maxCrashes) return { restart: false, recentCrashes: recent.length };
    const delayMs = Math.min(this.limits.maxDelayMs, this.limits.baseDelayMs * 2 ** (recent.length - 1));
    return { restart: true, delayMs, recentCrashes: recent.length };
  }
}
