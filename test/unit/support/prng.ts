/**
 * A seeded pseudo-random generator for property tests (xorshift32): the same
 * seed gives the same sequence, so a failure is replayed with
 * `PROPERTY_SEED=<seed>`. Not for anything but tests.
 */
export class Prng {
  private state: number;

  constructor(readonly seed: number) {
    // xorshift32 must not start from 0.
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** The next 32-bit unsigned value. */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.state = x;
    return x;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return this.next() % n;
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** A bigint in [0, 2^bits). */
  bits(bits: number): bigint {
    let value = 0n;
    for (let have = 0; have < bits; have += 32) value = (value << 32n) | BigInt(this.next());
    return value & ((1n << BigInt(bits)) - 1n);
  }
}

/** The seed of this run: `PROPERTY_SEED` when set (to replay a failure), otherwise a fresh one. */
export function propertySeed(): number {
  const given = process.env.PROPERTY_SEED;
  if (given !== undefined && given !== "") {
    const seed = Number(given);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff) throw new Error(`PROPERTY_SEED: expected an integer in 0..4294967295, got ${given}`);
    return seed;
  }
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}
