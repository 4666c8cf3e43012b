/** A transfer as a foreign service makes it: @grpc/grpc-js and the .proto file only (int64 as strings). */
import { randomUUID } from "node:crypto";
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

describe("ledger through a foreign grpc-js client", () => {
  it("opens accounts, mints, transfers and reads balances with int64 strings", async () => {
    const ledger = loadClient("aevon/ledger/v1/ledger.proto", "aevon.ledger.v1.LedgerService", server.grpcAddress);
    const identity = loadClient("aevon/identity/v1/identity.proto", "aevon.identity.v1.IdentityService", server.grpcAddress);
    const open = async () => {
      const { user } = await unary(identity, "CreateUser", { idempotencyKey: randomUUID(), handle: `f${randomUUID().slice(0, 8)}` });
      return (await unary(ledger, "CreateAccount", { idempotencyKey: randomUUID(), owner: { userId: user.id }, currency: "USD" })).account;
    };
    const a = await open();
    const b = await open();
    const issuance = (await unary(ledger, "ListAccounts", { owner: { system: "SYSTEM_ACCOUNT_ISSUANCE" }, currency: "USD" })).accounts[0];
    await unary(ledger, "Transfer", { idempotencyKey: randomUUID(), debitAccountId: issuance.id, creditAccountId: a.id, amount: "9007199254740993" });
    const res = await unary(ledger, "Transfer", { idempotencyKey: randomUUID(), debitAccountId: a.id, creditAccountId: b.id, amount: "9007199254740992" });
    // 2^53 + 1 survives the trip exactly: amounts are never JS numbers.
    expect(res.transfer.debitBalanceAfter).toBe("1");
    expect(res.transfer.creditBalanceAfter).toBe("9007199254740992");
    const err = await failure(unary(ledger, "Transfer", { idempotencyKey: randomUUID(), debitAccountId: a.id, creditAccountId: b.id, amount: "2" }));
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(errorDetails(err).errorInfo?.reason).toBe("INSUFFICIENT_FUNDS");
    ledger.close();
    identity.close();
  });
});
