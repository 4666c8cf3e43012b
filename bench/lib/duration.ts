/** Go-style durations, as ghz takes them: `10s`, `500ms`, `2m`, `1m30s`, `1h`. */

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Longest duration any flag accepts: a day. Longer is a typo, not a benchmark. */
export const MAX_DURATION_MS = 24 * 3_600_000;

/**
 * Milliseconds in `text`, a sequence of <number><unit> (units ns, us, ms, s,
 * m, h). Throws an Error naming `flag` when it is malformed or out of range.
 */
export function parseDurationMs(text: string, flag: string): number {
  const trimmed = text.trim();
  if (trimmed === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(trimmed); m !== null; m = re.exec(trimmed)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    matched = re.lastIndex;
  }
  if (trimmed === "" || matched !== trimmed.length) {
    throw new Error(`${flag}: "${text}" is not a duration (examples: 10s, 500ms, 2m, 1m30s)`);
  }
  if (total > MAX_DURATION_MS) throw new Error(`${flag}: "${text}" is longer than 24h`);
  return total;
}

/** `1500` → `1.5s`, `60000` → `1m0s`: for reports. */
export function formatDurationMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(3))}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${Number(((ms - m * 60_000) / 1000).toFixed(1))}s`;
}
