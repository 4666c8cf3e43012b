/** The cluster's pure parts: restart back-off and cap, wake-up coalescing, the messages both sides accept. */
import { describe, expect, it } from "vitest";
import { assignmentEnv, clusterMessageOf, remoteJobs, workerAssignment, WORKER_ENV, type WakeMessage } from "../../../src/server/cluster-protocol.js";
import { RestartPolicy } from "../../../src/server/cluster-restarts.js";

describe("restart policy", () => {
  const limits = { baseDelayMs: 100, maxDelayMs: 1_000, maxCrashes: 6, windowMs: 60_000 };

  it("doubles the delay with each recent crash of a slot, up to the longest, and gives up at the cap", () => {
    const policy = new RestartPolicy(limits);
    const decisions = Array.from({ length: 6 }, (_, i) => policy.crashed(1, i * 1_000));
    expect(decisions).toEqual([
      { restart: true, delayMs: 100, recentCrashes: 1 },
      { restart: true, delayMs: 200, recentCrashes: 2 },
      { restart: true, delayMs: 400, recentCrashes: 3 },
      { restart: true, delayMs: 800, recentCrashes: 4 },
      { restart: true, delayMs: 1_000, recentCrashes: 5 },
      { restart: false, recentCrashes: 6 },
    ]);
  });

  it("forgets crashes older than the window, and counts each slot on its own", () => {
    const policy = new RestartPolicy(limits);
    for (let i = 0; i < 5; i++) policy.crashed(0, i);
    expect(policy.crashed(1, 10)).toEqual({ restart: true, delayMs: 100, recentCrashes: 1 });
    // A minute after the last of them, slot 0 starts afresh.
    expect(policy.crashed(0, 4 + 60_000)).toEqual({ restart: true, delayMs: 100, recentCrashes: 1 });
  });
});

describe("wake-ups relayed to the jobs worker", () => {
  function recorder() {
    let clock = 0;
    const sent: WakeMessage[] = [];
    const jobs = remoteJobs((m) => sent.push(m), 50, () => clock);
    return { jobs, sent, advance: (ms: number) => (clock += ms) };
  }

  it("sends a plain wake at most once per gap, per job", () => {
    const { jobs, sent, advance } = recorder();
    jobs.wake("seal");
    jobs.wake("seal");
    jobs.wake("other");
    advance(49);
    jobs.wake("seal");
    advance(1);
    jobs.wake("seal");
    expect(sent).toEqual([
      { ledgerCluster: "wake", job: "seal" },
      { ledgerCluster: "wake", job: "other" },
      { ledgerCluster: "wake", job: "seal" },
    ]);
  });

  it("sends a timed wake unless one for an earlier or equal time is still ahead", () => {
    const { jobs, sent, advance } = recorder();
    jobs.wake("expire", new Date(1_000));
    jobs.wake("expire", new Date(1_500)); // covered: the run at 1000 reads the next due time
    jobs.wake("expire", new Date(1_000));
    jobs.wake("expire", new Date(800)); // earlier: sent
    advance(900); // 800 has passed: nothing ahead covers 1500 any more
    jobs.wake("expire", new Date(1_500));
    expect(sent.map((m) => m.atMs)).toEqual([1_000, 800, 1_500]);
  });
});

describe("cluster messages", () => {
  it("round-trips a worker's assignment through its environment, and refuses a malformed one", () => {
    const assignment = { index: 1, databaseUrl: "postgresql://u@h/db", applied: ["20260101000000_init"] };
    expect(workerAssignment(assignmentEnv(assignment))).toEqual(assignment);
    expect(workerAssignment({})).toBeUndefined();
    expect(() => workerAssignment({ [WORKER_ENV]: JSON.stringify({ index: "1", databaseUrl: "x", applied: [] }) })).toThrow(WORKER_ENV);
  });

  it("accepts only its own well-formed messages", () => {
    expect(clusterMessageOf({ ledgerCluster: "serving", grpcPort: 50051, connectPort: -1 })).toEqual({ ledgerCluster: "serving", grpcPort: 50051, connectPort: -1 });
    expect(clusterMessageOf({ ledgerCluster: "wake", job: "seal", atMs: 5 })).toEqual({ ledgerCluster: "wake", job: "seal", atMs: 5 });
    expect(clusterMessageOf({ ledgerCluster: "wake", job: "seal", extra: 1 })).toEqual({ ledgerCluster: "wake", job: "seal" });
    for (const other of [null, "serving", { cmd: "NODE_CLUSTER", act: "online" }, { ledgerCluster: "serving", grpcPort: "1" }, { ledgerCluster: "wake", job: 3 }]) {
      expect(clusterMessageOf(other)).toBeUndefined();
    }
  });
});
