/**
 * One server per test file, reached only through clients built from the
 * .proto files, with a user, two funded-or-empty USD accounts and a transfer
 * already in place, so a hostile request can be otherwise valid.
 */
import { randomUUID } from "node:crypto";
import type * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll } from "vitest";
import { loadClient, unary } from "./foreign-client.js";
import { startTestServer, type TestServer } from "./server.js";

export type ServiceName = "ledger" | "identity" | "audit" | "health";

export interface ForeignFixture {
  server: TestServer;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  clients: Record<ServiceName, any>;
  /** A user (and its version), a USD account holding 10000 (`payer`), an empty one (`payee`), USD issuance, and the funding transfer. */
  fx: { userId: string; version: string; payer: string; payee: string; issuance: string; transferId: string };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  call<T = any>(service: ServiceName, method: string, request: object, metadata?: grpc.Metadata): Promise<T>;
}

export const key = (prefix = "k") => `${prefix}-${randomUUID()}`;
/** A fresh valid handle (never starting with "abc" or "alice", which tests use). */
export const handle = () => `h${randomUUID().replaceAll("-", "").slice(0, 20)}`;

/** Registers beforeAll/afterAll; the returned holder is filled once beforeAll has run. */
export function useForeignFixture(env: Record<string, string> = {}): ForeignFixture {
  const f = { fx: {} } as ForeignFixture;
  f.call = (service, method, request, metadata) => unary(f.clients[service], method, request, { metadata });
  beforeAll(async () => {
    f.server = await startTestServer(env);
    const address = f.server.grpcAddress;
    f.clients = {
      ledger: loadClient("aevon/ledger/v1/ledger.proto", "aevon.ledger.v1.LedgerService", address),
      identity: loadClient("aevon/identity/v1/identity.proto", "aevon.identity.v1.IdentityService", address),
      audit: loadClient("aevon/audit/v1/audit.proto", "aevon.audit.v1.AuditService", address),
      health: loadClient("grpc/health/v1/health.proto", "grpc.health.v1.Health", address),
    };
    const { user } = await f.call("identity", "CreateUser", { idempotencyKey: key(), handle: handle() });
    Object.assign(f.fx, { userId: user.id, version: user.version });
    const account = async () =>
      (await f.call("ledger", "CreateAccount", { idempotencyKey: key(), owner: { userId: f.fx.userId }, currency: "USD" })).account.id as string;
    f.fx.payer = await account();
    f.fx.payee = await account();
    f.fx.issuance = (await f.call("ledger", "ListAccounts", { owner: { system: "SYSTEM_ACCOUNT_ISSUANCE" }, currency: "USD" })).accounts[0].id;
    const funded = await f.call("ledger", "Transfer", { idempotencyKey: key(), debitAccountId: f.fx.issuance, creditAccountId: f.fx.payer, amount: "10000" });
    f.fx.transferId = funded.transfer.id;
  });
  afterAll(async () => {
    for (const client of Object.values(f.clients ?? {})) client.close();
    await f.server?.close();
  });
  return f;
}
