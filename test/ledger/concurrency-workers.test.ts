/**
 * Double spends, opposite transfers and retry storms against two worker
 * processes (WORKERS=2, the compiled server), calls spread over four
 * connections: each worker has its own group commit, so the storms race
 * across processes and only PostgreSQL's locks keep them apart.
 */
import { expect, it } from "vitest";
import type { TestCompiledServer } from "../support/compiled-server.js";
import { concurrencySuite } from "./concurrency-suite.js";

const ctx = concurrencySuite({ WORKERS: "2" }, { compiledConnections: 4 });

it("served the storms' transfers from both workers", () => {
  const { lines } = ctx.server as TestCompiledServer;
  const pids = new Set(lines.filter((l) => l.msg === "rpc" && l.method === "/aevon.ledger.v1.LedgerService/Transfer").map((l) => l.pid));
  expect(pids.size).toBe(2);
});
