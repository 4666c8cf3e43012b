/**
 * Coalesces concurrent primary-key reads into one statement (a DataLoader
 * for the hottest reads). Under load, 64 GetBalance calls in flight cost one
 * `WHERE id = ANY($1)` statement per batch instead of 64 statements: one
 * socket write, one parse of the reply and one pass through Prisma's raw
 * query path, shared.
 *
 * Consistency: a batch is sent after every read in it was asked for, so it
 * sees everything committed before any of its callers arrived (a STRONG
 * read stays read-your-writes). Nothing is cached between batches.
 *
 * Latency: with no batch in flight a read is sent on the next turn of the
 * event loop (`setImmediate`), so one call at a time waits microseconds; while
 * `maxInFlight` batches are out, new reads gather and go in the next one.
 */

/** Limits of one batcher. */
export interface ReadBatchOptions {
  /** Most keys per statement. Default 256: one `uuid[]` parameter, index lookups each; bounds the reply's size. */
  readonly maxKeys?: number;
  /** Most statements in flight at once. Default 2: the pool keeps connections for writes, and more batches only split the same keys smaller. */
  readonly maxInFlight?: number;
}

/** A function that reads many keys at once; keys it does not return are absent (null). */
export type BatchLoad<V> = (keys: readonly string[]) => Promise<ReadonlyMap<string, V>>;

interface Waiter<V> {
  resolve(value: V | null): void;
  reject(error: unknown): void;
}

export const DEFAULT_READ_BATCH_MAX_KEYS = 256;
export const DEFAULT_READ_BATCH_MAX_IN_FLIGHT = 2;

/** Reads keys one by one from the caller's side, many at once on the database's. */
export class ReadBatcher<V> {
  private readonly maxKeys: number;
  private readonly maxInFlight: number;
  /** Keys asked for and not yet sent, each with every caller waiting on it (duplicates share one read). */
  private pending = new Map<string, Waiter<V>[]>();
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly load: BatchLoad<V>,
    options: ReadBatchOptions = {},
  ) {
    this.maxKeys = options.maxKeys ?? DEFAULT_READ_BATCH_MAX_KEYS;
    this.maxInFlight = options.maxInFlight ?? DEFAULT_READ_BATCH_MAX_IN_FLIGHT;
    if (!(Number.isInteger(this.maxKeys) && this.maxKeys >= 1)) throw new RangeError(`maxKeys must be a positive integer, got ${this.maxKeys}`);
    if (!(Number.isInteger(this.maxInFlight) && this.maxInFlight >= 1)) throw new RangeError(`maxInFlight must be a positive integer, got ${this.maxInFlight}`);
  }

  /** The value of `key`, read together with whatever other keys are asked for meanwhile; null when absent. */
  read(key: string): Promise<V | null> {
    return new Promise<V | null>((resolve, reject) => {
      const waiters = this.pending.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else this.pending.set(key, [{ resolve, reject }]);
      this.schedule();
    });
  }

  /** Keys waiting to be sent (for tests and gauges). */
  get waiting(): number {
    return this.pending.size;
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.pending.size > 0 && this.inFlight < this.maxInFlight) {
      const batch = new Map<string, Waiter<V>[]>();
      for (const [key, waiters] of this.pending) {
        if (batch.size === this.maxKeys) break;
        batch.set(key, waiters);
      }
      for (const key of batch.keys()) this.pending.delete(key);
      this.send(batch);
    }
  }

  private send(batch: Map<string, Waiter<V>[]>): void {
    this.inFlight += 1;
    let loading: Promise<ReadonlyMap<string, V>>;
    try {
      loading = this.load([...batch.keys()]);
    } catch (error) {
      loading = Promise.reject(error);
    }
    loading
      .then(
        (values) => {
          for (const [key, waiters] of batch) {
            const value = values.get(key) ?? null;
            for (const waiter of waiters) waiter.resolve(value);
          }
        },
        (error: unknown) => {
          // Every caller of the batch gets the statement's error (each classifies it: UNAVAILABLE, …).
          for (const waiters of batch.values()) for (const waiter of waiters) waiter.reject(error);
        },
      )
      .finally(() => {
        this.inFlight -= 1;
        if (this.pending.size > 0) this.schedule();
      });
  }
}
