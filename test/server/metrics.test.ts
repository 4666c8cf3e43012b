/**
 * Prometheus metrics of one process, on the real server and PostgreSQL:
 * calls on both ports (a failing one included) are counted by method and
 * code, with durations; replays, transfer groups, the pool and the
 * scrape-time ledger gauges appear; METRICS_PORT=-1 binds nothing.
 */
import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fundedAccount, issuance, key, ledgerClient, rejection, userAccount, type LedgerClient } from "../support/ledger.js";
import { find, scrape, value, type Sample } from "../support/metrics.js";
import { startTestServer, type TestServer } from "../support/server.js";

const LEDGER = "aevon.ledger.v1.LedgerService";
const calls = (system: string, method: string, code: number) => ({ rpc_system: system, rpc_service: LEDGER, rpc_method: method, rpc_grpc_status_code: String(code) });

describe("METRICS_PORT=0", () => {
  let server: TestServer;
  let client: LedgerClient;
  let before: Sample[];
  let after: Sample[];

  beforeAll(async () => {
    server = await startTestServer({ METRICS_PORT: "0" });
    client = ledgerClient(server);
    before = await scrape(server.metricsPort);
    const from = await fundedAccount(client, 1_000n);
    const to = await userAccount(client);
    const transfer = { idempotencyKey: key("t"), debitAccountId: from.id, creditAccountId: to.id, amount: 10n };
    await client.transfer(transfer);
    await client.transfer(transfer); // the same key again: a replay
    const missing = await rejection(client.getBalance({ accountId: randomUUID() }));
    expect(missing.code).toBe(Code.NotFound);
    const res = await fetch(`${server.connectBaseUrl}/${LEDGER}/GetCurrency`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "USD" }),
    });
    expect(res.status).toBe(200);
    await issuance(client);
    after = await scrape(server.metricsPort);
  });
  afterAll(async () => {
    await server?.close();
  });

  it("binds a free port and says which", () => {
    expect(server.metricsPort).toBeGreaterThan(0);
    expect(server.metricsPort).not.toBe(server.grpcPort);
  });

  it("counts calls on the gRPC port by method and code, a failing one included", () => {
    expect(value(after, "rpc_server_calls_total", calls("grpc", "GetBalance", Code.NotFound))).toBe(1);
    expect(value(before, "rpc_server_calls_total", calls("grpc", "Transfer", 0))).toBe(0);
    expect(value(after, "rpc_server_calls_total", calls("grpc", "Transfer", 0))).toBe(3); // funding, transfer, replay
    expect(value(after, "rpc_server_duration_seconds_count", calls("grpc", "Transfer", 0))).toBe(3);
    expect(value(after, "rpc_server_duration_seconds_sum", calls("grpc", "Transfer", 0))).toBeGreaterThan(0);
    expect(value(after, "rpc_server_duration_seconds_bucket", { ...calls("grpc", "Transfer", 0), le: "+Inf" })).toBe(3);
  });

  it("counts calls on the Connect port as connect_rpc", () => {
    expect(value(after, "rpc_server_calls_total", calls("connect_rpc", "GetCurrency", 0))).toBe(1);
    expect(value(after, "rpc_server_duration_seconds_count", calls("connect_rpc", "GetCurrency", 0))).toBe(1);
  });

  it("has no call in flight once every call is answered", () => {
    const active = find(after, "rpc_server_active_calls", { rpc_service: LEDGER });
    expect(active.length).toBeGreaterThan(0);
    for (const sample of active) expect(sample.value).toBe(0);
  });

  it("counts the idempotent replay", () => {
    expect(value(before, "ledger_idempotency_replays_total", { rpc_method: "Transfer", kind: "reply" })).toBe(0);
    expect(value(after, "ledger_idempotency_replays_total", { rpc_service: LEDGER, rpc_method: "Transfer", kind: "reply" })).toBe(1);
  });

  it("measures the transfer groups", () => {
    expect(value(after, "ledger_transfer_group_size_count")).toBeGreaterThanOrEqual(2);
    expect(value(after, "ledger_transfer_group_wait_seconds_count")).toBeGreaterThanOrEqual(2);
  });

  it("reads the pg pool", () => {
    expect(value(after, "db_client_connection_max")).toBe(8);
    expect(find(after, "db_client_connection_count", { state: "idle" })).toHaveLength(1);
    expect(find(after, "db_client_connection_count", { state: "used" })).toHaveLength(1);
    expect(find(after, "db_client_connection_pending_requests")).toHaveLength(1);
  });

  it("has the retry counter by cause", () => {
    expect(find(after, "ledger_transaction_retries_total", { cause: "serialization_failure" })).toHaveLength(1);
  });

  it("reads the jobs' backlog and the posted sums from the database", () => {
    for (const name of ["ledger_audit_unsealed_events", "ledger_audit_seal_lag_seconds", "ledger_holds_overdue", "ledger_hold_expiry_lag_seconds"]) {
      expect(find(after, name), name).toHaveLength(1);
    }
    expect(value(after, "ledger_holds_overdue")).toBe(0);
    // Money moved, and the books balance: every currency sums to zero.
    expect(find(after, "ledger_posted_sum", { currency: "USD" })).toHaveLength(1);
    for (const sample of find(after, "ledger_posted_sum")) expect(sample.value).toBe(0);
    expect(value(after, "ledger_metrics_scrape_errors_total", { source: "backlog" })).toBe(0);
  });

  it("answers 404 off /metrics", async () => {
    const res = await fetch(`http://127.0.0.1:${server.metricsPort}/`);
    expect(res.status).toBe(404);
  });
});

describe("METRICS_PORT=-1", () => {
  it("binds nothing and keeps no metrics", async () => {
    const server = await startTestServer({ METRICS_PORT: "-1" });
    try {
      expect(server.metricsPort).toBe(-1);
      expect(server.metrics).toBeUndefined();
    } finally {
      await server.close();
    }
  });
});
