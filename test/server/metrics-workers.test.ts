/**
 * WORKERS=2 (the compiled server as a node:cluster): the primary alone binds
 * METRICS_PORT, and each scrape sums the serving workers' registries. Calls
 * made over several connections (so both workers serve some) are all
 * counted; the database-read gauges come once, from the jobs worker.
 */
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCompiledTestServer, type TestCompiledServer } from "../support/compiled-server.js";
import { loadClient, unary } from "../support/foreign-client.js";
import { find, scrape, value, type Sample } from "../support/metrics.js";

const CALLS = 8;

describe("metrics of a cluster", () => {
  let server: TestCompiledServer;
  let metricsPort: number;
  let samples: Sample[];

  beforeAll(async () => {
    server = await startCompiledTestServer({ WORKERS: "2", DB_POOL_MAX: "6", METRICS_PORT: "0" }, "direct");
    const ready = server.lines.find((l) => l.msg === "all workers serving")!;
    metricsPort = ready.metricsPort as number;
    // Each client on a connection of its own: the cluster hands whole connections to the workers in turn.
    for (let i = 0; i < CALLS; i++) {
      const ledger = loadClient("aevon/ledger/v1/ledger.proto", "aevon.ledger.v1.LedgerService", server.grpcAddress, grpc.credentials.createInsecure(), {
        "grpc.use_local_subchannel_pool": 1,
      });
      try {
        await unary(ledger, "ListAccounts", { owner: { system: "SYSTEM_ACCOUNT_ISSUANCE" }, currency: "USD" });
      } finally {
        ledger.close();
      }
    }
    samples = await scrape(metricsPort);
  });
  afterAll(async () => {
    await server?.close();
  });

  it("is served by the primary alone, on the port its start-up line names", () => {
    expect(metricsPort).toBeGreaterThan(0);
    const workerLines = server.lines.filter((l) => l.msg === "serving" && l.cluster === "worker");
    expect(workerLines.length).toBeGreaterThanOrEqual(2);
    for (const line of workerLines) expect(line.metricsPort).toBe(-1);
  });

  it("sums both workers", () => {
    expect(value(samples, "ledger_cluster_workers_reporting")).toBe(2);
    expect(value(samples, "db_client_connection_max")).toBe(6); // 3 + 3
    const listed = { rpc_system: "grpc", rpc_service: "aevon.ledger.v1.LedgerService", rpc_method: "ListAccounts", rpc_grpc_status_code: "0" };
    expect(value(samples, "rpc_server_calls_total", listed)).toBe(CALLS);
    // Both workers served some of them (their pids are in the call log).
    const pids = new Set(server.lines.filter((l) => l.msg === "rpc" && l.method === "/aevon.ledger.v1.LedgerService/ListAccounts").map((l) => l.pid));
    expect(pids.size).toBe(2);
  });

  it("reads the database gauges once, in the jobs worker", () => {
    expect(find(samples, "ledger_audit_unsealed_events")).toHaveLength(1);
    expect(find(samples, "ledger_posted_sum", { currency: "USD" })).toHaveLength(1);
    expect(value(samples, "ledger_posted_sum", { currency: "USD" })).toBe(0);
  });
});
