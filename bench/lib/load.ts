/**
 * The load generator: closed loop (`concurrency` calls in flight, each
 * worker starting its next call when one ends) or open loop (`rps`: calls
 * start on a fixed schedule whatever the replies do, at most `concurrency` in
 * flight; a call that waits for a slot counts its latency from its scheduled
 * start, so a slow server cannot hide its queueing). A warm-up, not counted,
 * precedes the measured window, bounded by -n calls or -z time.
 */
import { LatencyRecorder, summarize, type LatencySummary } from "./stats.js";

/** One call's outcome: "OK", a gRPC status name, or another code (e.g. "SQLSTATE 40001"). */
export type Done = (code: string, message?: string, label?: string) => void;
/** Starts one operation; must call `done` exactly once. Throwing aborts the run (a bad template, say). */
export type Op = (ctx: { requestNumber: number; workerId: string }, done: Done) => void;

export interface LoadOptions {
  concurrency: number;
  /** Measured calls (started in the window); when set the window ends when they are all done. */
  total?: number;
  /** Measured window when `total` is unset. */
  durationMs: number;
  /** Open loop at this rate (calls/s); unset: closed loop. */
  rps?: number;
  warmupMs: number;
  /** Deadline of each call: bounds the drain after the window. */
  timeoutMs: number;
  /** Called right before the window opens and right after it closes (CPU readings). */
  onWindowStart?: () => void;
  onWindowEnd?: () => void;
  /** Every `intervalMs` of the measured window (soak). */
  sampler?: { intervalMs: number; onSample: (sample: IntervalSample) => void };
}

export interface IntervalSample {
  elapsedMs: number;
  calls: number;
  errors: number;
  latency: LatencySummary;
}

export interface LoadResult {
  /** Calls finished in the window, whatever their status. */
  count: number;
  ok: number;
  elapsedMs: number;
  callsPerS: number;
  /** Latency of the calls finished in the window (all statuses, as ghz). */
  latency: LatencySummary;
  statusCounts: Record<string, number>;
  /** First message seen per non-OK status. */
  firstErrors: Record<string, string>;
  /** Calls per label (method) in the window, for mixes. */
  perLabel: Record<string, number>;
  /** Open loop: calls that had to wait for a free slot (the cap was reached). */
  delayed: number;
  /** Open loop: calls never started because the backlog hit its bound. */
  dropped: number;
  /** CPU of this (client) process over the window, % of one core. */
  clientCpuPct: number;
  /** Calls still unanswered when the drain gave up. */
  stillInFlight: number;
}

/** Most calls an open loop queues behind the concurrency cap before it drops them. */
export const MAX_BACKLOG = 100_000;
const TICK_MS = 1;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runLoad(op: Op, options: LoadOptions): Promise<LoadResult> {
  const { concurrency, rps, total } = options;
  let measuring = false;
  let stopping = false;
  let fatal: unknown;
  let inFlight = 0;
  let requestNumber = 0;
  let startedInWindow = 0;
  let finishedCountedN = 0; // -n mode: calls started in the window that finished
  let delayed = 0;
  let dropped = 0;
  const recorder = new LatencyRecorder();
  const statusCounts: Record<string, number> = {};
  const firstErrors: Record<string, string> = {};
  const perLabel: Record<string, number> = {};
  let interval = { calls: 0, errors: 0, latencies: [] as number[] };
  let windowDone: () => void = () => undefined;

  const start = (workerId: string, scheduledAt: number | undefined, onFinish: () => void) => {
    const n = requestNumber++;
    const inWindow = measuring;
    if (inWindow) startedInWindow++;
    inFlight++;
    const t0 = performance.now();
    const from = scheduledAt ?? t0;
    let finished = false;
    const done: Done = (code, message, label) => {
      if (finished) return;
      finished = true;
      inFlight--;
      const ms = performance.now() - from;
      const counted = total !== undefined ? inWindow && measuring : measuring;
      if (counted) {
        recorder.add(ms);
        statusCounts[code] = (statusCounts[code] ?? 0) + 1;
        if (code !== "OK" && firstErrors[code] === undefined) firstErrors[code] = message ?? "";
        if (label) perLabel[label] = (perLabel[label] ?? 0) + 1;
        interval.calls++;
        if (code !== "OK") interval.errors++;
        interval.latencies.push(ms);
        if (total !== undefined && ++finishedCountedN >= total) windowDone();
      }
      onFinish();
    };
    try {
      op({ requestNumber: n, workerId }, done);
    } catch (error) {
      fatal ??= error;
      stopping = true;
      done("CLIENT", (error as Error).message);
      windowDone();
    }
  };

  const mayStart = () => !stopping && !(total !== undefined && measuring && startedInWindow >= total);

  // ── closed loop ──
  const worker = (id: string) => {
    const loop = () => {
      if (mayStart()) start(id, undefined, () => setImmediate(loop));
    };
    return loop;
  };

  // ── open loop ──
  const backlog: number[] = [];
  let schedule = { t0: 0, issued: 0 };
  let timer: NodeJS.Timeout | undefined;
  const startFromBacklog = () => {
    while (backlog.length > 0 && inFlight < concurrency && mayStart()) start(`w${inFlight}`, backlog.shift(), startFromBacklog);
  };
  const tick = () => {
    if (stopping) return;
    const now = performance.now();
    const due = Math.floor(((now - schedule.t0) * rps!) / 1000) + 1;
    for (; schedule.issued < due; schedule.issued++) {
      if (!mayStart()) {
        schedule.issued = due; // -n reached: nothing more is due
        break;
      }
      const at = schedule.t0 + (schedule.issued * 1000) / rps!;
      if (inFlight < concurrency && backlog.length === 0) {
        start(`w${inFlight}`, at, startFromBacklog);
      } else {
        delayed += measuring ? 1 : 0;
        if (backlog.length < MAX_BACKLOG) backlog.push(at);
        else dropped += measuring ? 1 : 0;
      }
    }
    timer = setTimeout(tick, TICK_MS);
  };

  if (rps !== undefined) {
    schedule = { t0: performance.now(), issued: 0 };
    tick();
  } else {
    for (let i = 0; i < concurrency; i++) worker(`w${i}`)();
  }

  await sleep(options.warmupMs);
  if (fatal) throw fatal;
  options.onWindowStart?.();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  measuring = true;
  interval = { calls: 0, errors: 0, latencies: [] };
  const sampler = options.sampler
    ? setInterval(() => {
        const s = interval;
        interval = { calls: 0, errors: 0, latencies: [] };
        options.sampler!.onSample({ elapsedMs: performance.now() - t0, calls: s.calls, errors: s.errors, latency: summarize(s.latencies) });
      }, options.sampler.intervalMs)
    : undefined;
  if (total !== undefined && rps !== undefined) {
    // Pace the counted calls from the window's start; what warm-up left queued is not part of them.
    schedule = { t0: performance.now(), issued: 0 };
    backlog.length = 0;
  }
  await new Promise<void>((resolve) => {
    windowDone = resolve; // -n: the last counted call; either way: a fatal error
    if (total === undefined) setTimeout(resolve, options.durationMs);
  });
  const elapsedMs = performance.now() - t0;
  measuring = false;
  options.onWindowEnd?.();
  const cpu = process.cpuUsage(cpu0);
  if (sampler) clearInterval(sampler);
  stopping = true;
  if (timer) clearTimeout(timer);
  backlog.length = 0;
  const drainUntil = performance.now() + options.timeoutMs + 1_000;
  while (inFlight > 0 && performance.now() < drainUntil) await sleep(5);
  if (fatal) throw fatal;

  const latency = recorder.summary();
  const ok = statusCounts.OK ?? 0;
  return {
    count: latency.count,
    ok,
    elapsedMs,
    callsPerS: latency.count / (elapsedMs / 1000),
    latency,
    statusCounts,
    firstErrors,
    perLabel,
    delayed,
    dropped,
    clientCpuPct: ((cpu.user + cpu.system) / 1000 / elapsedMs) * 100,
    stillInFlight: inFlight,
  };
}
