/**
 * Progress of a long run, on stderr (stdout stays the command's result):
 * on a terminal a bar redrawn in place; otherwise (a pipe, a log file, CI)
 * a plain line now and then, so logs stay readable.
 */

/** The subset of a stream the reporter writes to (process.stderr by default). */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(chunk: string): unknown;
}

export interface ProgressOptions {
  /** What is counted, e.g. "accounts", "links". */
  unit: string;
  /** Default process.stderr. */
  stream?: ProgressStream;
  /**
   * Least time between two plain lines when the stream is not a terminal.
   * Default CLI_PROGRESS_INTERVAL_MS, else 10000 ms: a line per 10 s keeps a
   * CI log short and still shows the run is alive. 0 prints every update.
   */
  plainIntervalMs?: number;
  /** Least time between two redraws of the bar on a terminal. Default 100 ms (smooth, and cheap). */
  redrawIntervalMs?: number;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
}

const BAR_WIDTH_MAX = 40;
const DEFAULT_PLAIN_INTERVAL_MS = 10_000;

function plainIntervalFromEnv(): number {
  const raw = process.env.CLI_PROGRESS_INTERVAL_MS;
  if (raw === undefined || raw === "") return DEFAULT_PLAIN_INTERVAL_MS;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`CLI_PROGRESS_INTERVAL_MS must be a whole number of milliseconds, got "${raw.slice(0, 32)}"`);
  return value;
}

const count = (n: bigint) => n.toLocaleString("en-US");

export class Progress {
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private last = -Infinity;
  private drawn = false;

  constructor(
    private readonly label: string,
    private readonly options: ProgressOptions,
  ) {
    this.stream = options.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
    this.intervalMs = this.tty ? (options.redrawIntervalMs ?? 100) : (options.plainIntervalMs ?? plainIntervalFromEnv());
    this.now = options.now ?? Date.now;
  }

  /** `done` of `total` (total unknown: 0n, or an estimate below done). Throttled. */
  update(done: bigint, total: bigint): void {
    const t = this.now();
    if (t - this.last < this.intervalMs) return;
    this.last = t;
    const known = total > 0n && done <= total;
    const percent = known ? Number((done * 100n) / total) : undefined;
    const counts = known ? `${count(done)}/${count(total)} ${this.options.unit}` : `${count(done)} ${this.options.unit}`;
    if (!this.tty) {
      this.stream.write(`${this.label}: ${counts}${percent === undefined ? "" : ` (${percent}%)`}\n`);
      return;
    }
    const columns = this.stream.columns || 80;
    const text = ` ${percent === undefined ? "" : `${String(percent).padStart(3)}% `}${counts}`;
    // Sized for the longest text this total gives, so the bar keeps its width as the counts grow.
    const longest = known ? ` 100% ${count(total)}/${count(total)} ${this.options.unit}`.length : text.length;
    const width = Math.max(0, Math.min(BAR_WIDTH_MAX, columns - this.label.length - longest - 4));
    const filled = percent === undefined ? 0 : Math.round((width * percent) / 100);
    const bar = width > 0 ? ` [${"#".repeat(filled)}${"-".repeat(width - filled)}]` : "";
    this.stream.write(`\r\x1b[2K${this.label}${bar}${text}`);
    this.drawn = true;
  }

  /** Ends the display: the bar's line is cleared, so what follows starts on a clean line. */
  finish(): void {
    if (this.tty && this.drawn) this.stream.write("\r\x1b[2K");
    this.drawn = false;
  }
}
