/**
 * Background upkeep, each a bounded task on its own timer: expire holds past
 * their time (releasing their funds), seal audit events into the chain, purge
 * idempotency keys past retention. A run never overlaps the previous one;
 * failures are logged and retried on the next tick. Safe with several
 * instances (SKIP LOCKED, an advisory lock, bounded deletes).
 *
 * Cadence: `intervalMs` while there is work. Runs that find nothing back off,
 * doubling up to `idleIntervalMs`, because over Accelerate every probe is an
 * HTTP request and a billed query. Work this instance creates wakes the job
 * at once (`wake`), and a job that knows when its next work falls due (the
 * next hold's expiry) sleeps until then, so idling costs no promptness.
 */
import type { Logger } from "pino";

/** What a run did, and when it knows its next work falls due. */
export interface JobRun {
  done: number;
  /** When the next work is due (e.g. the next pending hold's expiry); null when none is known. */
  nextDueAt?: Date | null;
}

export interface Job {
  name: string;
  /** Delay after a run that found work, and the first step of the idle back-off. */
  intervalMs: number;
  /** Longest delay between runs while idle. Default `intervalMs` (no back-off). */
  idleIntervalMs?: number;
  /** Returns how much it did; a full batch runs again at once. */
  run(): Promise<number | JobRun>;
  /** The batch size: a run that did this much likely left more. */
  batch: number;
}

export interface Jobs {
  /** Work for `name` is coming: run it within its interval, or at `at` when given (never later than planned). */
  wake(name: string, at?: Date): void;
  stop(): Promise<void>;
}

const asRun = (result: number | JobRun): JobRun => (typeof result === "number" ? { done: result } : result);

export function startJobs(jobs: Job[], logger: Logger): Jobs {
  let stopped = false;
  const running = new Set<Promise<void>>();
  const schedulers = new Map(jobs.map((job) => [job.name, scheduleJob(job)]));

  function scheduleJob(job: Job) {
    const idleIntervalMs = Math.max(job.intervalMs, job.idleIntervalMs ?? job.intervalMs);
    let timer: NodeJS.Timeout | undefined;
    let dueAt = Infinity;
    let busy = false;
    /** Woken while running: the next run comes at the busy cadence. */
    let wokenWhileBusy = false;
    let backoffMs = job.intervalMs;

    const at = (time: number) => {
      if (stopped || (timer !== undefined && dueAt <= time)) return;
      clearTimeout(timer);
      dueAt = time;
      timer = setTimeout(fire, Math.max(0, time - Date.now()));
      timer.unref();
    };

    const drain = async (): Promise<JobRun> => {
      // Drain a backlog in bounded batches, but yield to shutdown.
      let last = asRun(await job.run());
      let done = last.done;
      while (last.done >= job.batch && !stopped) {
        last = asRun(await job.run());
        done += last.done;
      }
      return { done, nextDueAt: last.nextDueAt };
    };

    async function fire(): Promise<void> {
      timer = undefined;
      dueAt = Infinity;
      if (busy || stopped) return;
      busy = true;
      let result: JobRun = { done: 0 };
      const p = drain().then(
        (r) => {
          result = r;
        },
        (err: unknown) => logger.warn({ err, job: job.name }, "background job failed; retrying on the next tick"),
      );
      running.add(p);
      await p;
      running.delete(p);
      busy = false;
      logger.debug({ job: job.name, done: result.done }, "background job ran");
      const now = Date.now();
      backoffMs = result.done > 0 || wokenWhileBusy ? job.intervalMs : Math.min(idleIntervalMs, backoffMs * 2);
      wokenWhileBusy = false;
      let next = now + backoffMs;
      // Known next work: be there when it falls due, but never spin on a clock skew.
      if (result.nextDueAt) next = Math.min(next, Math.max(result.nextDueAt.getTime(), now + Math.ceil(job.intervalMs / 10)));
      at(next);
    }

    at(Date.now() + job.intervalMs);
    return {
      wake(when?: Date) {
        backoffMs = job.intervalMs;
        if (busy) wokenWhileBusy = true;
        at(when ? when.getTime() : Date.now() + job.intervalMs);
      },
      stop() {
        clearTimeout(timer);
        timer = undefined;
      },
    };
  }

  return {
    wake(name, at) {
      schedulers.get(name)?.wake(at);
    },
    async stop() {
      stopped = true;
      for (const s of schedulers.values()) s.stop();
      await Promise.all(running);
    },
  };
}
