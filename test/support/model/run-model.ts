/**
 * One model run from start to verdict: set up the world through the service,
 * drive the workload (with the test's faults alongside), wait for the
 * background jobs, check every invariant, print the counts, and fail with
 * the seed and the minimal history of whatever broke.
 */
import type { TestDatabase } from "../db.js";
import { historyOf, type Counts } from "./history.js";
import { checkAgainstModel, checkAudit, checkBooks, settle, type Report } from "./invariants.js";
import type { Target } from "./ops.js";
import { seededRng } from "./rng.js";
import { postedOf, setupWorld } from "./world.js";
import { Workload, type Problem, type Run } from "./workload.js";

export interface ModelRunOptions {
  name: string;
  seed: number;
  db: TestDatabase;
  targets: Target[];
  workers?: number;
  maxOps?: number;
  budgetMs?: number;
  users?: number;
  /** Runs alongside the workload (fault injection); may add to `counts.faults`. */
  during?: (workload: Workload) => Promise<void>;
}

export interface ModelResult {
  run: Run;
  counts: Counts;
  problems: Problem[];
  audit: { events: number; seals: number };
  /** Empty when every invariant held; else the seed, each problem and the minimal history. */
  failure: string;
}

export async function runModel(options: ModelRunOptions): Promise<ModelResult> {
  const rng = seededRng(options.seed);
  const prefix = `m${options.seed}-${Date.now().toString(36)}`;
  const targets = options.targets;
  const firstEvent = (await options.db.sql<{ next: string }>("SELECT coalesce(max(id), 0)::text AS next FROM audit_events")).rows[0]!.next;
  const workload = new Workload({
    rng,
    targets,
    workers: options.workers ?? 16,
    maxOps: options.maxOps ?? 2000,
    budgetMs: options.budgetMs ?? 15_000,
    prefix,
  });
  const world = await setupWorld(workload, targets[0]!, { users: options.users ?? 12, currencies: ["USD", "EUR"], funding: 1_000n });
  workload.world = world;
  const before = await postedOf(options.db, [...world.issuance.values()]);
  // The set-up's own transfers are in the model already: predict from zero for new accounts, from the issuance balance before them.
  for (const t of workload.run.model.transfers.values()) {
    for (const [id, sign] of [[t.debitAccountId, 1n], [t.creditAccountId, -1n]] as const) if (before.has(id)) before.set(id, before.get(id)! + sign * t.amount);
  }

  const started = Date.now();
  const faults = options.during?.(workload);
  const run = await workload.drive();
  await faults;
  const driveMs = Date.now() - started;

  const report: Report = (message, accounts = [], users = []) => workload.problem(message, accounts, users);
  await settle(options.db);
  await checkBooks(options.db, report);
  await checkAgainstModel(options.db, run, world, before, prefix, report);
  const audit = await checkAudit(options.db, BigInt(firstEvent) + 1n, report);

  const c = run.counts;
  console.log(
    `[model ${options.name}] seed=${options.seed} targets=${targets.length} workers=${options.workers ?? 16} ` +
      `operations=${c.operations} attempts=${c.attempts} retries=${c.retries} replays=${c.replays} reused-key-probes=${c.reusedKeyProbes} ` +
      `races=${c.races} short-deadlines=${c.shortDeadlines} unknown-outcomes=${c.unknownOutcomes} faults=${c.faults} ` +
      `succeeded=${c.succeeded} refused=${c.refused} unresolved=${c.unresolved} holds=${run.model.holds.size} ` +
      `audit-events=${audit.events} in ${driveMs} ms; refusals ${JSON.stringify(c.refusals)}`,
  );
  const problems = run.problems;
  let failure = "";
  if (problems.length > 0) {
    const accounts = [...new Set(problems.flatMap((p) => p.accounts))];
    const users = [...new Set(problems.flatMap((p) => p.users))];
    failure =
      `model run "${options.name}" failed: replay with MODEL_SEED=${options.seed}\n` +
      problems.slice(0, 30).map((p) => `- ${p.message}`).join("\n") +
      (problems.length > 30 ? `\n- … ${problems.length - 30} more` : "") +
      `\nminimal history (operations touching the accounts named):\n${historyOf(run.ops, accounts.slice(0, 6), users.slice(0, 3))}`;
  }
  return { run, counts: c, problems, audit, failure };
}
