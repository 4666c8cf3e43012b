/**
 * What is particular to the Accelerate path (Prisma Client → query-plan
 * executor over HTTP → PostgreSQL): round trips per RPC, Accelerate's
 * limits, and Accelerate being away. The functional suites run on this path
 * too (the `accelerate` vitest project).
 */
import { Code } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrisma } from "../../src/lib/prisma.js";
import { expectBooksBalance, expectFailure, fundedAccount, identityClient, key, ledgerClient, type LedgerClient } from "../support/ledger.js";
import { until } from "../support/poll.js";
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

  it("a transfer is one HTTP round trip (one statement, its own transaction), and so is a group of them", async () => {
    const from = await fundedAccount(client, 100n);
    const to = await fundedAccount(client, 0n);
    server.executor!.reset();
    await client.transfer({ idempotencyKey: key(), debitAccountId: from.id, creditAccountId: to.id, amount: 1n });
    expect(steps(server)).toEqual(["/query"]);
    // Concurrent transfers between other accounts share their group's one request.
    const pairs = await Promise.all(Array.from({ length: 8 }, async () => [await fundedAccount(client, 10n), await fundedAccount(client, 0n)] as const));
    server.executor!.reset();
    await Promise.all(pairs.map(([a, b]) => client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 1n })));
    expect(steps(server).every((s) => s === "/query")).toBe(true);
    expect(steps(server).length).toBeLessThan(8);
  });

  it("a batch is four: begin, claim and lock, write, commit", async () => {
    const from = await fundedAccount(client, 100n);
    const to = await fundedAccount(client, 0n);
    server.executor!.reset();
    await client.transferBatch({ idempotencyKey: key(), legs: [{ debitAccountId: from.id, creditAccountId: to.id, amount: 1n }] });
    expect(steps(server)).toEqual(["/transaction/start", "/transaction/…/query", "/transaction/…/query", "/transaction/…/commit"]);
  });

  it("why Transfer is one statement: Prisma's batch `$transaction([...])` is not one request through the executor", async () => {
    // The form that looks like one round trip is a transaction of its own
    // (start, one request per query, commit): only a single statement is one.
    const db = createPrisma({ url: server.executor!.url });
    try {
      await db.currency.findMany();
      server.executor!.reset();
      await db.$transaction([db.currency.findMany(), db.account.count(), db.$queryRawUnsafe("SELECT 1")]);
      expect(steps(server)).toEqual(["/transaction/start", "/transaction/…/query", "/transaction/…/query", "/transaction/…/query", "/transaction/…/commit"]);
    } finally {
      await db.$disconnect();
    }
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
      const probes = (seen: string[]) => seen.filter((s) => s === "/query").length;
      // Let the start-up work (the first seal of nothing, the first expiry pass) go by, then watch
      // until the jobs have probed a few more times.
      await until(async () => steps(server), (seen) => probes(seen) >= 2, 5_000);
      server.executor!.reset();
      const seen = await until(async () => steps(server), (s) => probes(s) >= 4, 5_000);
      expect(probes(seen)).toBeGreaterThanOrEqual(4);
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
