/**
 * The randomized, seeded model test (one service): 16 clients issue random
 * transfers, batches, holds (short expiry), captures, voids, reversals,
 * freezes and suspensions, with retries under the same key (after short
 * deadlines, as replays, concurrently, and with a changed payload), and a
 * reference model of the acknowledged outcomes predicts every balance.
 * MODEL_SEED=<n> replays a run; MODEL_OPS / MODEL_BUDGET_MS make it longer.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { identityClient, ledgerClient } from "../support/ledger.js";
import { runModel } from "../support/model/run-model.js";
import { modelSeed } from "../support/model/rng.js";
import { startTestServer, type TestServer } from "../support/server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ HOLD_EXPIRY_INTERVAL_MS: "100" });
});
afterAll(async () => {
  await server?.close();
});

it("random operations from 16 clients, with retries under the same key: every invariant holds and the model predicts every balance", async () => {
  const ledger = ledgerClient(server);
  const result = await runModel({
    name: "one service",
    seed: modelSeed(),
    db: server.database,
    targets: [{ name: "s0", ledger, identity: identityClient(ledger), alive: true }],
    maxOps: Number(process.env.MODEL_OPS ?? 2000),
    budgetMs: Number(process.env.MODEL_BUDGET_MS ?? 8_000),
  });
  expect(result.failure).toBe("");
  expect(result.counts.unresolved).toBe(0);
  // The run exercised what it claims to: refusals, retries after unknown outcomes, replays, key reuse.
  expect(result.counts.refused).toBeGreaterThan(0);
  expect(result.counts.replays).toBeGreaterThan(0);
  expect(result.counts.reusedKeyProbes).toBeGreaterThan(0);
}, 90_000);
