/**
 * What is particular to the Accelerate path (Prisma Client → query-plan
 * executor over HTTP → PostgreSQL): round trips per RPC, Accelerate's
 * limits, and Accelerate being away. The functional suites run on this path
 * too (the `accelerate` vitest project).
 */
import { Code } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectBooksBalance, expectFailure, fundedAccount, identityClient, key, ledgerClient, type LedgerClient } from "../support/ledger.js";
import { startTestServer, type TestServer } from "../support/server.js";

/** Executor steps of one RPC: `/query`, `/transaction/start`, `/transaction/<id>/query`, `…/commit`. */
function steps(server: TestServer): string[] {
  return server.executor!.requests.map((r) => r.path.replace(/\/transaction\/[0-9a-f-]{36}\//, "/transaction/…/"));
}

describe("round trips", () => {
  let server: TestServer;
  let client: LedgerClient;
  beforeAll(async () => {
    // Background jobs would add their own requests.
    server = await startTestServer({ HOLD_EXPIRY_INTERVAL_MS: "600000", AUDIT_SEAL_INTERVAL_MS: "60000", HEALTH_CHECK_INTERVAL_MS: "600000" }, undefined, "accelerate");
    client = ledgerClient(server);
  });
  afterAll(() => server?.close());

  it("a transfer is four HTTP round trips: begin, claim and lock, write, commit", async () => {
    const from = await fundedAccount(client, 100n);
    const to = await fundedAccount(client, 0n);
    server.executor!.reset();
    await client.transfer({ idempotencyKey: key(), debitAccountId: from.id, creditAccountId: to.id, amount: 1n });
    expect(steps(server)).toEqual(["/transaction/start", "/transaction/…/query", "/transaction/…/query", "/transaction/…/commit"]);
  });

  it("a balance, an account, a user: one round trip each", async () => {
    const account = await fundedAccount(client, 10n);
    const { user } = await identityClient(client).createUser({ idempotencyKey: key(), handle: `rt${Date.now()}` });
    server.executor!.reset();
    await client.getBalance({ accountId: account.id });
    await client.getAccount({ accountId: account.id });
    await identityClient(client).getUser({ lookup: { case: "userId", value: user!.id } });
    expect(steps(server)).toEqual(["/query", "/query", "/query"]);
  });
});

describe("background jobs while idle", () => {
  it("probe with one query per tick and open no transaction", async () => {
    // No idle back-off here (test/server/jobs.test.ts covers it): every tick probes.
    const server = await startTestServer(
      {
        HOLD_EXPIRY_INTERVAL_MS: "50",
        HOLD_EXPIRY_IDLE_INTERVAL_MS: "50",
        AUDIT_SEAL_INTERVAL_MS: "50",
        AUDIT_SEAL_IDLE_INTERVAL_MS: "50",
        HEALTH_CHECK_INTERVAL_MS: "600000",
      },
      undefined,
      "accelerate",
    );
    try {
      // Let the start-up work (the first seal of nothing, the first expiry pass) settle, then watch.
      await new Promise((r) => setTimeout(r, 300));
      server.executor!.reset();
      await new Promise((r) => setTimeout(r, 500));
      const seen = steps(server);
      expect(seen.filter((s) => s === "/query").length).toBeGreaterThanOrEqual(4);
      expect(seen.filter((s) => s !== "/query")).toEqual([]);
    } finally {
      await server.close();
    }
  });
});

describe("Accelerate's query limit", () => {
  let server: TestServer;
  let client: LedgerClient;
  beforeAll(async () => {
    server = await startTestServer({ DB_TRANSACTION_TIMEOUT_MS: "3000" }, undefined, "accelerate", { queryTimeoutMs: 500, maxTransactionTimeoutMs: 3000 });
    client = ledgerClient(server);
  });
  afterAll(() => server?.close());

  it("a transfer stuck past it fails as retryable DATABASE_TIMEOUT, writes nothing, and its retry pays once", async () => {
    const from = await fundedAccount(client, 100n);
    const to = await fundedAccount(client, 0n);
    const request = { idempotencyKey: key(), debitAccountId: from.id, creditAccountId: to.id, amount: 7n };
    const locker = new pg.Client({ connectionString: server.database.url });
    await locker.connect();
    try {
      await locker.query("BEGIN");
      await locker.query("SELECT id FROM accounts WHERE id = $1 FOR UPDATE", [from.id]);
      await expectFailure(client.transfer(request), Code.Unavailable, "DATABASE_TIMEOUT");
    } finally {
      await locker.query("ROLLBACK");
      await locker.end();
    }
    const written = await server.database.sql("SELECT count(*)::int AS n FROM transfers WHERE idempotency_key = $1", [request.idempotencyKey]);
    expect(written.rows[0]!.n).toBe(0);
    const { transfer } = await client.transfer(request);
    expect(transfer).toMatchObject({ amount: 7n, debitBalanceAfter: 93n });
    expect((await client.transfer(request)).transfer).toEqual(transfer);
    await expectBooksBalance(server.database);
  });
});

describe("Accelerate unreachable", () => {
  it("reads and writes fail as UNAVAILABLE, never INTERNAL", async () => {
    const server = await startTestServer({ HEALTH_CHECK_INTERVAL_MS: "600000" }, undefined, "accelerate");
    try {
      const client = ledgerClient(server);
      const account = await fundedAccount(client, 5n);
      await server.executor!.stop();
      await expectFailure(client.getAccount({ accountId: account.id }), Code.Unavailable, "UNAVAILABLE");
      await expectFailure(identityClient(client).getUser({ lookup: { case: "handle", value: "nobody" } }), Code.Unavailable, "UNAVAILABLE");
      await expectFailure(client.transfer({ idempotencyKey: key(), debitAccountId: account.id, creditAccountId: account.id, amount: 1n }), Code.InvalidArgument);
      const other = await server.database.sql<{ id: string }>("SELECT id FROM accounts WHERE id <> $1 AND owner_type = 'USER' LIMIT 1", [account.id]);
      await expectFailure(
        client.transfer({ idempotencyKey: key(), debitAccountId: account.id, creditAccountId: other.rows[0]!.id, amount: 1n }),
        Code.Unavailable,
        "UNAVAILABLE",
      );
    } finally {
      await server.close();
    }
  });
});
