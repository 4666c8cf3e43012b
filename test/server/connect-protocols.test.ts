/** Connect (JSON over HTTP/1.1, as curl sends it) and gRPC-Web, served from the same handlers. */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LedgerService } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

describe("Connect and gRPC-Web port", () => {
  it("answers a plain JSON POST, as curl would send it", async () => {
    const res = await fetch(`${server.connectBaseUrl}/aevon.ledger.v1.LedgerService/GetCurrency`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "curl-1" },
      body: JSON.stringify({ code: "USD" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toBe("curl-1");
    expect(await res.json()).toEqual({ currency: { code: "USD", scale: 2, name: "US dollar" } });
  });

  it("an undecodable body (refused before any handler) still carries x-request-id: the one sent, else a new one", async () => {
    const url = `${server.connectBaseUrl}/aevon.ledger.v1.LedgerService/GetCurrency`;
    for (const body of ["{", '{"code":"USD","code":"usd"}']) {
      const generated = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
      expect(generated.status).toBe(400);
      expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      const sent = await fetch(url, { method: "POST", headers: { "content-type": "application/json", "x-request-id": "bad-json-1" }, body });
      expect(sent.headers.get("x-request-id")).toBe("bad-json-1");
    }
    // A decodable call keeps one id, the interceptor's and the transport's alike.
    const ok = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: '{"code":"USD"}' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("x-request-id")?.split(",")).toHaveLength(1);
  });

  it("maps domain errors to Connect error JSON with the code and field", async () => {
    const res = await fetch(`${server.connectBaseUrl}/aevon.ledger.v1.LedgerService/GetCurrency`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "nope" }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe("invalid_argument");
    expect(body.message).toMatch(/^code: /);
  });

  it("serves gRPC-Web and the Connect binary protocol", async () => {
    for (const transport of [
      createGrpcWebTransport({ baseUrl: server.connectBaseUrl, httpVersion: "1.1" }),
      createConnectTransport({ baseUrl: server.connectBaseUrl, httpVersion: "1.1", useBinaryFormat: true }),
    ]) {
      const client = createClient(LedgerService, transport);
      const res = await client.getCurrency({ code: "AEV" });
      expect(res.currency?.scale).toBe(8);
    }
  });
});
