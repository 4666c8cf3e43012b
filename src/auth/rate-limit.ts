/**
 * Per-principal request rate limits: one token bucket per (principal, method
 * group). `write` is for mutating RPCs, `read` for the rest; the caller
 * decides the group. Synchronous and O(1) per call, no timers: buckets refill
 * lazily from the clock when touched.
 *
 * Memory is bounded: at most `maxPrincipals` principals are tracked, in
 * least-recently-used order (to within one second: an entry moves to the
 * recent end at most once a second, which spares the Map a delete and an
 * insert on most calls); a new principal beyond that evicts the one idle
 * longest (whose buckets have most likely refilled, so forgetting it loses
 * nothing). If more than `maxPrincipals` principals are all busy at once,
 * evicted ones restart with a full bucket: a bounded leniency, never a refusal.
 */

export type MethodGroup = "read" | "write";

export interface BucketLimit {
  /** Sustained requests per second; 0 = unlimited (the group is not tracked at all). */
  readonly ratePerSec: number;
  /** Requests allowed at once after idling; default max(1, ceil(ratePerSec)), i.e. one second's worth. */
  readonly burst?: number;
}

export interface RateLimiterOptions {
  readonly read: BucketLimit;
  readonly write: BucketLimit;
  /** Principals tracked at most. Default 10 000 (~100 bytes each: about 1 MiB). */
  readonly maxPrincipals?: number;
  /** Monotonic clock in ms. Default performance.now (immune to wall-clock steps); tests inject their own. */
  readonly now?: () => number;
}

export type RateDecision = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number };

interface Bucket {
  tokens: number;
  at: number;
}

interface Entry {
  read: Bucket | undefined;
  write: Bucket | undefined;
  /** When the entry last moved to the most-recently-used end. */
  movedAt: number;
}

/** An entry moves to the most-recently-used end at most this often (ms). */
const LRU_RESOLUTION_MS = 1000;

const OK: RateDecision = Object.freeze({ ok: true });
const MAX_RATE = 1_000_000;

function checkLimit(name: string, limit: BucketLimit): { rate: number; burst: number } {
  const rate = limit.ratePerSec;
  if (!Number.isFinite(rate) || rate < 0 || rate > MAX_RATE) throw new Error(`${name}.ratePerSec must be between 0 and ${MAX_RATE}`);
  const burst = limit.burst ?? Math.max(1, Math.ceil(rate));
  if (!Number.isInteger(burst) || burst < 1 || burst > MAX_RATE) throw new Error(`${name}.burst must be an integer between 1 and ${MAX_RATE}`);
  return { rate, burst };
}

export class RateLimiter {
  private readonly entries = new Map<string, Entry>();
  private readonly limits: Record<MethodGroup, { rate: number; burst: number }>;
  private readonly maxPrincipals: number;
  private readonly now: () => number;
  private evictions = 0;

  constructor(options: RateLimiterOptions) {
    this.limits = { read: checkLimit("read", options.read), write: checkLimit("write", options.write) };
    this.maxPrincipals = options.maxPrincipals ?? 10_000;
    if (!Number.isInteger(this.maxPrincipals) || this.maxPrincipals < 1 || this.maxPrincipals > 1_000_000) {
      throw new Error("maxPrincipals must be an integer between 1 and 1000000");
    }
    this.now = options.now ?? (() => performance.now());
  }

  /** Takes one token from the principal's bucket for the group, or says how long until one is available. */
  take(principal: string, group: MethodGroup): RateDecision {
    const { rate, burst } = this.limits[group];
    if (rate === 0) return OK;
    const now = this.now();
    let entry = this.entries.get(principal);
    if (entry) {
      if (now - entry.movedAt >= LRU_RESOLUTION_MS || now < entry.movedAt) {
        this.entries.delete(principal);
        this.entries.set(principal, entry);
        entry.movedAt = now;
      }
    } else {
      if (this.entries.size >= this.maxPrincipals) {
        const oldest = this.entries.keys().next().value as string;
        this.entries.delete(oldest);
        this.evictions++;
      }
      entry = { read: undefined, write: undefined, movedAt: now };
      this.entries.set(principal, entry);
    }
    let bucket = entry[group];
    if (!bucket) {
      bucket = { tokens: burst, at: now };
      entry[group] = bucket;
    } else {
      const elapsedMs = now - bucket.at;
      if (elapsedMs > 0) {
        bucket.tokens = Math.min(burst, bucket.tokens + (elapsedMs * rate) / 1000);
        bucket.at = now;
      }
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return OK;
    }
    return { ok: false, retryAfterMs: Math.ceil(((1 - bucket.tokens) * 1000) / rate) };
  }

  /** Principals tracked now, and how many were evicted to stay within maxPrincipals. */
  stats(): { principals: number; evictions: number } {
    return { principals: this.entries.size, evictions: this.evictions };
  }
}
