/** A small seeded PRNG (mulberry32), so a failing model run can be replayed with its seed. */
export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
  /** A weighted choice: `[weight, value]` pairs, weights > 0. */
  weighted<T>(choices: readonly (readonly [number, T])[]): T;
}

export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)]!,
    weighted: (choices) => {
      const total = choices.reduce((s, [w]) => s + w, 0);
      let r = next() * total;
      for (const [w, v] of choices) {
        if ((r -= w) < 0) return v;
      }
      return choices[choices.length - 1]![1];
    },
  };
}

/** The run's seed: MODEL_SEED when set (to replay a failure), else a random one. */
export function modelSeed(): number {
  const fromEnv = process.env.MODEL_SEED;
  if (fromEnv !== undefined && fromEnv !== "") {
    const seed = Number(fromEnv);
    if (!Number.isSafeInteger(seed)) throw new Error(`MODEL_SEED must be an integer, got ${fromEnv}`);
    return seed;
  }
  return Math.floor(Math.random() * 2 ** 31);
}
