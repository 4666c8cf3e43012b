/**
 * Caps on calls in flight: one for the whole server, and one per principal so
 * a single noisy caller cannot take every slot. Synchronous and O(1).
 *
 * Memory: one small counter per principal seen. Counters that drop to zero
 * are kept (so a busy principal's counter is not deleted and re-created on
 * every call) until the table holds `maxIdleTracked` entries; then the idle
 * ones are swept in one pass, amortized O(1) per call.
 */

export interface ConcurrencyLimiterOptions {
  /** Calls in flight for the whole server; 0 = unlimited. Size it to what the database pool can serve plus a queue. */
  readonly maxConcurrent: number;
  /** Calls in flight per principal; 0 = unlimited. Below maxConcurrent, so others always find room. */
  readonly maxPerPrincipal: number;
  /** Counters kept before idle ones are swept. Default 10 000 (well under 1 MiB). */
  readonly maxIdleTracked?: number;
}

export type Acquisition =
  | { readonly ok: true; readonly release: () => void }
  | { readonly ok: false; readonly limit: "global" | "principal"; readonly max: number };

const MAX_LIMIT = 1_000_000;

function checkCap(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_LIMIT) throw new Error(`${name} must be an integer between 0 and ${MAX_LIMIT} (0 = unlimited)`);
  return value;
}

export class ConcurrencyLimiter {
  private readonly maxConcurrent: number;
  private readonly maxPerPrincipal: number;
  private readonly maxIdleTracked: number;
  private total = 0;
  private sweepAt: number;
  private readonly perPrincipal = new Map<string, { n: number }>();

  constructor(options: ConcurrencyLimiterOptions) {
    this.maxConcurrent = checkCap("maxConcurrent", options.maxConcurrent);
    this.maxPerPrincipal = checkCap("maxPerPrincipal", options.maxPerPrincipal);
    this.maxIdleTracked = options.maxIdleTracked ?? 10_000;
    if (!Number.isInteger(this.maxIdleTracked) || this.maxIdleTracked < 1 || this.maxIdleTracked > MAX_LIMIT) {
      throw new Error(`maxIdleTracked must be an integer between 1 and ${MAX_LIMIT}`);
    }
    this.sweepAt = this.maxIdleTracked;
  }

  /**
   * Takes a slot for one call, or says which cap was hit. Call `release` exactly
   * when the call ends (extra calls to it do nothing).
   */
  acquire(principal: string): Acquisition {
    if (this.maxConcurrent > 0 && this.total >= this.maxConcurrent) return { ok: false, limit: "global", max: this.maxConcurrent };
    let counter = this.perPrincipal.get(principal);
    if (counter && this.maxPerPrincipal > 0 && counter.n >= this.maxPerPrincipal) return { ok: false, limit: "principal", max: this.maxPerPrincipal };
    if (!counter) {
      if (this.perPrincipal.size >= this.sweepAt) this.sweep();
      counter = { n: 0 };
      this.perPrincipal.set(principal, counter);
    }
    const mine = counter;
    mine.n++;
    this.total++;
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        mine.n--;
      },
    };
  }

  // Drops idle counters. A counter at zero is referenced by no unreleased call
  // (released handles never touch it again), so forgetting it loses nothing.
  // If most counters are busy, the next sweep waits until the table has doubled,
  // so sweeping stays amortized O(1) even then.
  private sweep(): void {
    for (const [principal, counter] of this.perPrincipal) if (counter.n === 0) this.perPrincipal.delete(principal);
    this.sweepAt = Math.max(this.maxIdleTracked, this.perPrincipal.size * 2);
  }

  /** Calls in flight, overall and for one principal. */
  inFlight(principal?: string): number {
    return principal === undefined ? this.total : (this.perPrincipal.get(principal)?.n ?? 0);
  }

  /** Size of the per-principal table (principals in flight plus idle ones not swept yet). */
  get trackedPrincipals(): number {
    return this.perPrincipal.size;
  }
}
