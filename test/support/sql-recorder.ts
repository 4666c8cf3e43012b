/**
 * Records the SQL text of every query sent through node-postgres in this
 * process (the service under test runs in the test's process; on the direct
 * path its adapter-pg pool is node-postgres), with a few of the parameter
 * lists each text was sent with. It only observes: each query still goes to
 * PostgreSQL unchanged. The Accelerate path's executor bundles its own
 * driver, so nothing is recorded there.
 */
import pg from "pg";

/** Parameter lists kept per statement text: enough to replay the distinct shapes of a few calls. */
const MAX_SAMPLES_PER_STATEMENT = 20;

export interface SqlRecorder {
  /** Distinct statement texts, in first-seen order. */
  statements(): string[];
  /** Up to 20 parameter lists `text` was sent with, in order (empty lists for statements without parameters). */
  samples(text: string): unknown[][];
  stop(): void;
}

/** Starts recording; queries of the `ignored` clients (the test's own) are left out. */
export function recordSql(ignored: pg.Client[] = []): SqlRecorder {
  const seen = new Map<string, unknown[][]>();
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: pg.Client, ...args: unknown[]) {
    const config = args[0];
    const text = typeof config === "string" ? config : (config as { text?: string } | undefined)?.text;
    if (text !== undefined && !ignored.includes(this)) {
      const values = (typeof config === "object" && config !== null ? (config as { values?: unknown[] }).values : undefined) ?? (Array.isArray(args[1]) ? (args[1] as unknown[]) : []);
      const samples = seen.get(text) ?? [];
      if (samples.length < MAX_SAMPLES_PER_STATEMENT) samples.push([...values]);
      seen.set(text, samples);
    }
    return original.apply(this, args);
  };
  return {
    statements: () => [...seen.keys()],
    samples: (text) => seen.get(text) ?? [],
    stop: () => {
      proto.query = original;
    },
  };
}
