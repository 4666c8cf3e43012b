/**
 * OpenTelemetry traces on the real server (in this process), exported to
 * an InMemorySpanExporter through the hook production uses when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set: a server span per call that continues
 * the caller's traceparent, on both ports, and database spans under it.
 */
import { randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { Code } from "@connectrpc/connect";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { traceHooks } from "../../src/lib/trace-hooks.js";
import { startTracing, type Tracing } from "../../src/server/tracing.js";
import { startCompiledTestServer } from "../support/compiled-server.js";
import { loadClient, unary } from "../support/foreign-client.js";
import { identityClient, ledgerClient, rejection, type LedgerClient } from "../support/ledger.js";
import { startTestServer, type TestServer } from "../support/server.js";

const hex = (bytes: number) => randomBytes(bytes).toString("hex");
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

describe("tracing", () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  let server: TestServer;
  let client: LedgerClient;

  beforeAll(async () => {
    expect(traceHooks()).toBeUndefined(); // off until started
    tracing = await startTracing({ serviceName: "ledger-test", exporter });
    server = await startTestServer();
    client = ledgerClient(server);
  });
  afterAll(async () => {
    await server?.close();
    await tracing?.stop();
  });

  it("continues the caller's traceparent on the gRPC port, with the transaction as a child span", async () => {
    const traceId = hex(16);
    const callerSpan = hex(8);
    await identityClient(client).createUser(
      { idempotencyKey: randomUUID(), handle: `t${hex(8)}` },
      { headers: { traceparent: `00-${traceId}-${callerSpan}-01` } },
    );
    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const call = spans.find((s) => s.name === "aevon.identity.v1.IdentityService/CreateUser")!;
    expect(call).toBeDefined();
    expect(parentOf(call)).toBe(callerSpan);
    expect(call.attributes).toMatchObject({ "rpc.system": "grpc", "rpc.service": "aevon.identity.v1.IdentityService", "rpc.method": "CreateUser", "rpc.grpc.status_code": 0 });
    expect(call.resource.attributes["service.name"]).toBe("ledger-test");
    const transaction = spans.find((s) => s.name === "db.transaction");
    expect(transaction).toBeDefined();
    expect(parentOf(transaction!)).toBe(call.spanContext().spanId);
  });

  it("records a failing call's code, and starts a trace when the caller sent none", async () => {
    exporter.reset();
    const missing = await rejection(client.getBalance({ accountId: randomUUID() }));
    expect(missing.code).toBe(Code.NotFound);
    const call = exporter.getFinishedSpans().find((s) => s.name === "aevon.ledger.v1.LedgerService/GetBalance")!;
    expect(call.attributes["rpc.grpc.status_code"]).toBe(Code.NotFound);
    expect(parentOf(call)).toBeUndefined();
  });

  it("continues the traceparent header on the Connect port", async () => {
    const traceId = hex(16);
    const callerSpan = hex(8);
    const res = await fetch(`${server.connectBaseUrl}/aevon.ledger.v1.LedgerService/GetCurrency`, {
      method: "POST",
      headers: { "content-type": "application/json", traceparent: `00-${traceId}-${callerSpan}-01` },
      body: JSON.stringify({ code: "USD" }),
    });
    expect(res.status).toBe(200);
    const call = exporter.getFinishedSpans().find((s) => s.spanContext().traceId === traceId && s.name === "aevon.ledger.v1.LedgerService/GetCurrency")!;
    expect(call).toBeDefined();
    expect(parentOf(call)).toBe(callerSpan);
    expect(call.attributes["rpc.system"]).toBe("connect_rpc");
  });
});

describe("OTEL_EXPORTER_OTLP_ENDPOINT", () => {
  it("sends the spans of the compiled server to the OTLP/HTTP endpoint", async () => {
    // A stand-in collector: records each export request.
    const received: { path: string; type: string; bytes: number }[] = [];
    const collector = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        received.push({ path: req.url ?? "", type: req.headers["content-type"] ?? "", bytes: Buffer.concat(chunks).length });
        res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    const port = (collector.address() as AddressInfo).port;
    const server = await startCompiledTestServer({ WORKERS: "1", OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` }, "direct");
    try {
      const ledger = loadClient("aevon/ledger/v1/ledger.proto", "aevon.ledger.v1.LedgerService", server.grpcAddress, grpc.credentials.createInsecure());
      await unary(ledger, "GetCurrency", { code: "USD" });
      ledger.close();
      expect((await server.stop()).code).toBe(0); // the batch is flushed on the way out
      expect(received.length).toBeGreaterThan(0);
      expect(received[0]).toMatchObject({ path: "/v1/traces", type: "application/x-protobuf" });
      expect(received[0]!.bytes).toBeGreaterThan(0);
    } finally {
      await server.close();
      collector.close();
    }
  });
});
