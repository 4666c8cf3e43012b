/**
 * The gRPC transport's own guarantees, over a real socket: an unknown failure
 * reaches the client as INTERNAL with a fixed message (detail only in the
 * log), and the server caps deadlines.
 */
import { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LedgerService } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { implement } from "../../src/rpc/implement.js";
import { addService, createGrpcServer } from "../../src/server/grpc-server.js";
import { failure, loadClient, unary } from "../support/foreign-client.js";

const logLines: Record<string, unknown>[] = [];
const logger = pino(
  { level: "info" },
  new Writable({
    write(chunk, _enc, done) {
      logLines.push(JSON.parse(String(chunk)));
      done();
    },
  }),
);

const server = createGrpcServer({
  maxReceiveMessageBytes: 1024 * 1024,
  maxSendMessageBytes: 1024 * 1024,
  keepaliveTimeMs: 30_000,
  keepaliveTimeoutMs: 10_000,
  maxConcurrentStreams: 100,
});
let address = "";

beforeAll(async () => {
  const service = implement(
    LedgerService,
    {
      listCurrencies: () => new Promise(() => undefined), // never answers: only the deadline ends it
      getCurrency: () => {
        throw new Error('relation "currencies" does not exist at /srv/secret.ts:42');
      },
    },
    logger,
  );
  addService(server, service, { logger, maxDeadlineMs: 300 });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  address = `127.0.0.1:${port}`;
});
afterAll(() => server.forceShutdown());

describe("gRPC transport", () => {
  it("turns an unknown failure into INTERNAL with a fixed message and logs the detail", async () => {
    const client = loadClient("aevon/ledger/v1/ledger.proto", "aevon.ledger.v1.LedgerService", address);
    const err = await failure(unary(client, "GetCurrency", { code: "USD" }));
    expect(err.code).toBe(grpc.status.INTERNAL);
    expect(err.details).toBe("internal error");
    expect(JSON.stringify(err.metadata.getMap())).not.toContain("secret");
    const logged = logLines.find((l) => l.msg === "unhandled error in handler");
    expect(JSON.stringify(logged)).toContain("/srv/secret.ts:42");
    const callLine = logLines.find((l) => l.msg === "rpc" && l.method === "/aevon.ledger.v1.LedgerService/GetCurrency");
    expect(callLine).toMatchObject({ code: "INTERNAL", protocol: "grpc" });
    expect(typeof callLine?.duration_ms).toBe("number");
    expect(typeof callLine?.request_id).toBe("string");
    expect(String(callLine?.peer)).toContain("127.0.0.1");
    client.close();
  });

  it("caps a call's deadline at the server maximum", async () => {
    const client = loadClient("aevon/ledger/v1/ledger.proto", "aevon.ledger.v1.LedgerService", address);
    // No client deadline and a handler that never answers: only the server's
    // cap (300 ms here) can end the call. Without the cap it would hang; the
    // watchdog turns that into a failure long before the test's own timeout.
    let watchdog: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      watchdog = setTimeout(() => reject(new Error("the call was still open after 10 s: the server did not cap its deadline")), 10_000);
    });
    try {
      const err = await Promise.race([failure(unary(client, "ListCurrencies", {})), hung]);
      expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    } finally {
      clearTimeout(watchdog);
      client.close();
    }
  });
});
