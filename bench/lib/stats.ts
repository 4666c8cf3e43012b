/** Latency percentiles and medians. Pure. */

/**
 * Nearest-rank percentile of an ascending array: the smallest value with at
 * least p of the samples at or below it. `p` in [0, 1]. NaN when empty.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  if (!(p >= 0 && p <= 1)) throw new Error(`percentile: p must be in [0, 1], got ${p}`);
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1]!;
}

/** Median of the finite values (mean of the middle two for an even count); NaN when none. */
export function median(values: readonly (number | undefined)[]): number {
  const v = values.filter((x): x is number => x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export interface LatencySummary {
  count: number;
  minMs: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function summarize(samplesMs: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(samplesMs as ArrayLike<number>).sort();
  let sum = 0;
  for (const x of sorted) sum += x;
  return {
    count: sorted.length,
    minMs: sorted.length ? sorted[0]! : NaN,
    meanMs: sorted.length ? sum / sorted.length : NaN,
    p50Ms: percentile(sorted, 0.5),
    p90Ms: percentile(sorted, 0.9),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.length ? sorted[sorted.length - 1]! : NaN,
  };
}

/**
 * Keeps latency samples up to `maxSamples` (default 2,000,000: 16 MB), then a
 * uniform reservoir of that size, so a long soak cannot grow without bound.
 * The exact maximum is kept apart.
 */
export class LatencyRecorder {
  private samples: Float64Array;
  private n = 0;
  private seen = 0;
  private maxMs = -Infinity;

  constructor(
    private readonly maxSamples = 2_000_000,
    private readonly random: () => number = Math.random,
  ) {
    this.samples = new Float64Array(Math.min(1024, maxSamples));
  }

  add(ms: number): void {
    this.seen++;
    if (ms > this.maxMs) this.maxMs = ms;
    if (this.n < this.maxSamples) {
      if (this.n === this.samples.length) {
        const grown = new Float64Array(Math.min(this.maxSamples, this.samples.length * 2));
        grown.set(this.samples);
        this.samples = grown;
      }
      this.samples[this.n++] = ms;
      return;
    }
    const j = Math.floor(this.random() * this.seen);
    if (j < this.maxSamples) this.samples[j] = ms;
  }

  get count(): number {
    return this.seen;
  }

  summary(): LatencySummary {
    const s = summarize(this.samples.subarray(0, this.n));
    return { ...s, count: this.seen, maxMs: this.seen ? this.maxMs : NaN };
  }
}
