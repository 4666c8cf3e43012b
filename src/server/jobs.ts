/**
 * Background upkeep, each a bounded task on a timer: expire holds past their
 * time (releasing their funds) and purge idempotency keys past retention.
 * A run never overlaps the previous one; failures are logged and retried on
 * the next tick. Safe with several instances (SKIP LOCKED, bounded deletes).
 */
import type { Logger } from "pino";

export interface Job {
  name: string;
  intervalMs: number;
  /** Returns how much it did; a full batch runs again at once. */
  run(): Promise<number>;
  /** The batch size: a run that did this much likely left more. */
  batch: number;
}

export interface Jobs {
  stop(): Promise<void>;
}

export function startJobs(jobs: Job[], logger: Logger): Jobs {
  let stopped = false;
  const running = new Set<Promise<void>>();
  const timers = jobs.map((job) => {
    let busy = false;
    const tick = async () => {
      if (busy || stopped) return;
      busy = true;
      try {
        // Drain a backlog in bounded batches, but yield to shutdown.
        for (let done = await job.run(); done >= job.batch && !stopped; done = await job.run()) {
          /* full batch: go again */
        }
      } catch (err) {
        logger.warn({ err, job: job.name }, "background job failed; retrying on the next tick");
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(() => {
      const p = tick();
      running.add(p);
      void p.finally(() => running.delete(p));
    }, job.intervalMs);
    timer.unref();
    return timer;
  });
  return {
    async stop() {
      stopped = true;
      for (const t of timers) clearInterval(t);
      await Promise.all(running);
    },
  };
}
