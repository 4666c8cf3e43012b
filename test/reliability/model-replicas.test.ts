/**
 * The model workload spread over three replicas: three processes of the
 * compiled service on one database, each with its own group commit and its
 * own background jobs (hold expiry, audit sealer). Same invariants as the
 * one-service run, and, with three sealers and three expiry jobs competing:
 * the audit log is one chain (no fork, no gap, every event sealed once) and
 * every expired hold has exactly one expiry event.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import type { CompiledServer } from "../support/compiled-server.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { identityClient, ledgerClient } from "../support/ledger.js";
import { runModel } from "../support/model/run-model.js";
import { modelSeed } from "../support/model/rng.js";
import { startReplicaProcess } from "../support/replica.js";

let database: TestDatabase;
let replicas: CompiledServer[] = [];
beforeAll(async () => {
  database = await createTestDatabase();
  replicas = await Promise.all([0, 1, 2].map(() => startReplicaProcess(database, { HOLD_EXPIRY_INTERVAL_MS: "100" })));
});
afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop("SIGTERM")));
  await database?.drop();
});

it("three replicas on one database: every invariant holds, one sealer chains the log, each hold expires once", async () => {
  const targets = replicas.map((r, i) => {
    const ledger = ledgerClient(r);
    return { name: `r${i}`, ledger, identity: identityClient(ledger), alive: true };
  });
  const result = await runModel({
    name: "three replicas",
    seed: modelSeed(),
    db: database,
    targets,
    maxOps: Number(process.env.MODEL_OPS ?? 2000),
    budgetMs: Number(process.env.MODEL_BUDGET_MS ?? 6_000),
  });
  expect(result.failure).toBe("");
  expect(result.counts.unresolved).toBe(0);
  // All three served (each process also runs its own sealer and expiry job).
  const served = replicas.map((r) => r.lines.filter((l) => l.msg === "rpc").length);
  expect(served.every((n) => n > 0)).toBe(true);
  const expired = await database.sql<{ n: number }>("SELECT count(*)::int AS n FROM holds WHERE status = 'EXPIRED'");
  expect(expired.rows[0]!.n).toBeGreaterThan(0);
}, 120_000);
