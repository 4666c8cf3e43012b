/**
 * The service as a foreign gRPC client sees it: @grpc/grpc-js with only the
 * .proto files, over a real socket, against a real PostgreSQL.
 */
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorDetails, failure, loadClient, unary } from "../support/foreign-client.js";
import { startTestServer, type TestServer } from "../support/server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

describe("LedgerService over grpc-js", () => {
  it("lists the seeded currencies with their minor-unit scales", async () => {
    const ledger = loadClient("aevon/ledger/v1/ledger.proto", "aevon.ledger.v1.LedgerService", server.grpcAddress);
    const res = await unary(ledger, "ListCurrencies", {});
    const byCode = Object.fromEntries(res.currencies.map((c: { code: string; scale: number }) => [c.code, c.scale]));
    expect(byCode).toMatchObject({ USD: 2, AEV: 8 });
    ledger.close();
  });

  it("answers NOT_FOUND with a google.rpc.ErrorInfo reason and the request id", async () => {
    const ledger = loadClient("aevon/ledger/v1/ledger.proto", "aevon.ledger.v1.LedgerService", server.grpcAddress);
    const metadata = new grpc.Metadata();
    metadata.set("x-request-id", "req-123");
    const err = await failure(unary(ledger, "GetCurrency", { code: "ZZZ" }, { metadata }));
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.details).toBe("currency ZZZ not found");
    expect(errorDetails(err).errorInfo).toMatchObject({ reason: "NOT_FOUND", domain: "ledger-of-record.aevon", metadata: { field: "code" } });
    expect(err.metadata.get("x-request-id")).toEqual(["req-123"]);
    ledger.close();
  });

  it("answers INVALID_ARGUMENT naming the field, with a BadRequest violation", async () => {
    const ledger = loadClient("aevon/ledger/v1/ledger.proto", "aevon.ledger.v1.LedgerService", server.grpcAddress);
    const err = await failure(unary(ledger, "GetCurrency", { code: "usd; DROP TABLE currencies" }));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/^code: /);
    expect(errorDetails(err).badRequest?.fieldViolations[0]?.field).toBe("code");
    ledger.close();
  });

  it("rejects a request larger than the receive limit with RESOURCE_EXHAUSTED", async () => {
    const ledger = loadClient("aevon/ledger/v1/ledger.proto", "aevon.ledger.v1.LedgerService", server.grpcAddress);
    const err = await failure(unary(ledger, "GetCurrency", { code: "X".repeat(server.config.maxReceiveMessageBytes + 1) }));
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    ledger.close();
  });
});

describe("grpc.health.v1.Health", () => {
  it("reports SERVING overall and per service while the database answers", async () => {
    const health = loadClient("grpc/health/v1/health.proto", "grpc.health.v1.Health", server.grpcAddress);
    for (const service of ["", "aevon.ledger.v1.LedgerService", "aevon.identity.v1.IdentityService", "aevon.audit.v1.AuditService"]) {
      expect((await unary(health, "Check", { service })).status).toBe("SERVING");
    }
    const err = await failure(unary(health, "Check", { service: "no.such.Service" }));
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    health.close();
  });

  it("lists every service's status", async () => {
    const health = loadClient("grpc/health/v1/health.proto", "grpc.health.v1.Health", server.grpcAddress);
    const { statuses } = await unary(health, "List", {});
    expect(Object.keys(statuses).sort()).toEqual(["", "aevon.audit.v1.AuditService", "aevon.identity.v1.IdentityService", "aevon.ledger.v1.LedgerService"]);
    expect(statuses["aevon.ledger.v1.LedgerService"].status).toBe("SERVING");
    health.close();
  });

  it("streams the current status on Watch", async () => {
    const health = loadClient("grpc/health/v1/health.proto", "grpc.health.v1.Health", server.grpcAddress);
    const call = health.Watch({ service: "aevon.ledger.v1.LedgerService" });
    const first = await new Promise<{ status: string }>((resolve, reject) => {
      call.once("data", resolve);
      call.once("error", reject);
    });
    expect(first.status).toBe("SERVING");
    call.cancel();
    const unknown = health.Watch({ service: "no.such.Service" });
    const reported = await new Promise<{ status: string }>((resolve, reject) => {
      unknown.once("data", resolve);
      unknown.once("error", reject);
    });
    expect(reported.status).toBe("SERVICE_UNKNOWN");
    unknown.cancel();
    health.close();
  });
});

describe("server reflection", () => {
  for (const version of ["v1", "v1alpha"] as const) {
    it(`${version}: lists services and describes LedgerService by symbol`, async () => {
      const reflection = loadClient(`grpc/reflection/${version}/reflection.proto`, `grpc.reflection.${version}.ServerReflection`, server.grpcAddress);
      const ask = (request: object) =>
        new Promise<any>((resolve, reject) => {
          const stream = reflection.ServerReflectionInfo();
          stream.once("data", (res: unknown) => {
            stream.end();
            resolve(res);
          });
          stream.once("error", reject);
          stream.write(request);
        });
      const listed = await ask({ listServices: "" });
      const names = listed.listServicesResponse.service.map((s: { name: string }) => s.name);
      expect(names).toEqual(expect.arrayContaining(["aevon.ledger.v1.LedgerService", "aevon.identity.v1.IdentityService", "aevon.audit.v1.AuditService", "grpc.health.v1.Health"]));

      const described = await ask({ fileContainingSymbol: "aevon.ledger.v1.LedgerService" });
      const protos: Buffer[] = described.fileDescriptorResponse.fileDescriptorProto;
      expect(protos.length).toBeGreaterThan(0);
      // The serialized FileDescriptorProto names the method: enough for grpcurl's `describe`.
      expect(Buffer.concat(protos).toString("latin1")).toContain("GetCurrency");
      // Files keep their real names, so clients that know a file (e.g. health.proto) do not see a conflicting copy.
      expect(protos[0]!.toString("latin1")).toContain("aevon/ledger/v1/ledger.proto");

      const health = await ask({ fileContainingSymbol: "grpc.health.v1.Health" });
      expect(health.fileDescriptorResponse.fileDescriptorProto[0].toString("latin1")).toContain("grpc/health/v1/health.proto");

      const byName = await ask({ fileByFilename: "google/rpc/status.proto" });
      // A file comes with its dependencies (status.proto imports any.proto).
      expect(Buffer.concat(byName.fileDescriptorResponse.fileDescriptorProto).toString("latin1")).toContain("google/protobuf/any.proto");

      // The enum behind every ErrorInfo.reason, which no service imports, is found by symbol too.
      const reasons = await ask({ fileContainingSymbol: "aevon.type.v1.ErrorReason" });
      const reasonFile = reasons.fileDescriptorResponse?.fileDescriptorProto?.[0] as Buffer | undefined;
      expect(reasonFile?.toString("latin1")).toContain("aevon/type/v1/error_reason.proto");
      expect(reasonFile?.toString("latin1")).toContain("ERROR_REASON_INSUFFICIENT_FUNDS");

      const missing = await ask({ fileContainingSymbol: "no.such.Symbol" });
      expect(missing.errorResponse.errorCode).toBe(grpc.status.NOT_FOUND);
      reflection.close();
    });
  }
});
