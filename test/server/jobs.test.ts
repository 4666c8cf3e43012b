/** The background-job scheduler's cadence, on a fake clock (no real waiting, no timing asserts). */
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { startJobs, type Job, type JobRun } from "../../src/server/jobs.js";

const silent = pino({ level: "silent" });

beforeEach(() => vi.useFakeTimers({ now: 0 }));
afterEach(() => vi.useRealTimers());

/** A job whose runs answer from `answers` (then 0), recording when each run started. */
function recorded(options: Partial<Job> & { answers?: (number | JobRun)[] }) {
  const starts: number[] = [];
  const answers = [...(options.answers ?? [])];
  const job: Job = {
    name: "job",
    intervalMs: 100,
    batch: 10,
    ...options,
    run: async () => {
      starts.push(Date.now());
      return answers.shift() ?? 0;
    },
  };
  return { job, starts };
}

describe("startJobs", () => {
  it("backs off while idle, doubling up to the idle interval", async () => {
    const { job, starts } = recorded({ idleIntervalMs: 800 });
    const jobs = startJobs([job], silent);
    await vi.advanceTimersByTimeAsync(3_000);
    await jobs.stop();
    // Gaps of 200, 400, then 800 (the cap).
    expect(starts).toEqual([100, 300, 700, 1_500, 2_300]);
  });

  it("without an idle interval, keeps its interval", async () => {
    const { job, starts } = recorded({});
    const jobs = startJobs([job], silent);
    await vi.advanceTimersByTimeAsync(450);
    await jobs.stop();
    expect(starts).toEqual([100, 200, 300, 400]);
  });

  it("returns to its interval after a run that found work, and drains a full batch at once", async () => {
    const { job, starts } = recorded({ idleIntervalMs: 800, answers: [0, 0, 10, 3] });
    const jobs = startJobs([job], silent);
    await vi.advanceTimersByTimeAsync(1_000);
    await jobs.stop();
    // 100 and 300 find nothing; 700 finds a full batch and runs again at once (3 more), then 100 ms later, then backs off.
    expect(starts).toEqual([100, 300, 700, 700, 800, 1_000]);
  });

  it("wake brings an idle job back within its interval, or at the time asked", async () => {
    const { job, starts } = recorded({ idleIntervalMs: 10_000 });
    const jobs = startJobs([job], silent);
    await vi.advanceTimersByTimeAsync(1_000); // runs at 100, 300, 700; next planned at 1500
    jobs.wake("job");
    await vi.advanceTimersByTimeAsync(150); // now 1150: the woken run was at 1100, the next is planned at 1300
    jobs.wake("job", new Date(1_250)); // earlier than planned: moves it
    jobs.wake("job", new Date(5_000)); // later than planned: changes nothing
    await vi.advanceTimersByTimeAsync(150);
    await jobs.stop();
    expect(starts).toEqual([100, 300, 700, 1_100, 1_250]);
  });

  it("sleeps until the next work it knows of, never longer than the idle interval", async () => {
    const { job, starts } = recorded({ idleIntervalMs: 5_000, answers: [{ done: 0, nextDueAt: new Date(250) }, { done: 0, nextDueAt: null }] });
    const jobs = startJobs([job], silent);
    await vi.advanceTimersByTimeAsync(700);
    await jobs.stop();
    // At 100 it learns of work due at 250 (sooner than its 200 ms back-off); at 250 it
    // learns nothing more and backs off further (400 ms: 650).
    expect(starts).toEqual([100, 250, 650]);
  });

  it("never overlaps a run and stops after the one in flight", async () => {
    let release!: () => void;
    let runs = 0;
    const job: Job = {
      name: "slow",
      intervalMs: 10,
      batch: 10,
      run: () => {
        runs += 1;
        return new Promise<number>((resolve) => (release = () => resolve(0)));
      },
    };
    const jobs = startJobs([job], silent);
    await vi.advanceTimersByTimeAsync(100);
    jobs.wake("slow");
    await vi.advanceTimersByTimeAsync(100);
    expect(runs).toBe(1);
    const stopped = jobs.stop();
    release();
    await stopped;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs).toBe(1);
  });
});
