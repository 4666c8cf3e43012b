/**
 * WORKERS=2: the compiled server (`npm run build`) as a node:cluster on the
 * real PostgreSQL, reached by grpc-js clients built from the .proto files,
 * each on a connection of its own. Calls spread per connection over the
 * workers; keys apply once across them; one worker runs the background jobs
 * and is restarted when it dies; SIGTERM drains every worker; a crash loop
 * ends the primary; SIGHUP reaches the workers.
 */
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestPki } from "../support/certs.js";
import { isAlive, startCompiledTestServer, type LogLine, type TestCompiledServer } from "../support/compiled-server.js";
import { loadClient, unary } from "../support/foreign-client.js";
import { expectBooksBalance } from "../support/ledger.js";
import { until } from "../support/poll.js";

const LEDGER = ["aevon/ledger/v1/ledger.proto", "aevon.ledger.v1.LedgerService"] as const;
const IDENTITY = ["aevon/identity/v1/identity.proto", "aevon.identity.v1.IdentityService"] as const;
const HEALTH = ["grpc/health/v1/health.proto", "grpc.health.v1.Health"] as const;

/** A client on a connection of its own: grpc-js shares one connection between channels to a target unless told not to. */
function ownChannel([proto, service]: readonly [string, string], address: string, credentials = grpc.credentials.createInsecure()) {
  return loadClient(proto, service, address, credentials, { "grpc.use_local_subchannel_pool": 1 });
}

/** The pids the primary forked, per worker slot, in order. */
const forked = (lines: LogLine[], slot: number) => lines.filter((l) => l.msg === "worker started" && l.worker === slot).map((l) => l.pid as number);
const allForked = (lines: LogLine[]) => lines.filter((l) => l.msg === "worker started").map((l) => l.pid as number);
const transferPids = (lines: LogLine[]) => new Set(lines.filter((l) => l.msg === "rpc" && l.method === "/aevon.ledger.v1.LedgerService/Transfer").map((l) => l.pid));
const jobRuns = (lines: LogLine[]) => lines.filter((l) => l.msg === "background job ran");

/** Opens `n` USD accounts, each funded with `amount` from issuance. */
async function fundedAccounts(address: string, n: number, amount: bigint): Promise<string[]> {
  const ledger = ownChannel(LEDGER, address);
  const identity = ownChannel(IDENTITY, address);
  try {
    const issuance = (await unary(ledger, "ListAccounts", { owner: { system: "SYSTEM_ACCOUNT_ISSUANCE" }, currency: "USD" })).accounts[0].id as string;
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const { user } = await unary(identity, "CreateUser", { idempotencyKey: randomUUID(), handle: `w${randomUUID().replaceAll("-", "").slice(0, 12)}` });
      const { account } = await unary(ledger, "CreateAccount", { idempotencyKey: randomUUID(), owner: { userId: user.id }, currency: "USD" });
      await unary(ledger, "Transfer", { idempotencyKey: randomUUID(), debitAccountId: issuance, creditAccountId: account.id, amount: String(amount) });
      ids.push(account.id);
    }
    return ids;
  } finally {
    ledger.close();
    identity.close();
  }
}

describe("two workers on one port", () => {
  let server: TestCompiledServer;
  beforeAll(async () => {
    server = await startCompiledTestServer({ WORKERS: "2", LOG_LEVEL: "debug" }, "direct");
  });
  afterAll(async () => {
    await server?.close();
  });

  it("spreads connections over both workers; concurrent transfers from six clients apply each key once and conserve money", async () => {
    const accounts = await fundedAccounts(server.grpcAddress, 4, 1_000_000n);
    const clients = Array.from({ length: 6 }, () => ownChannel(LEDGER, server.grpcAddress));
    const requests = Array.from({ length: 120 }, (_, i) => ({
      idempotencyKey: `spread-${randomUUID()}`,
      debitAccountId: accounts[i % 4]!,
      creditAccountId: accounts[(i + 1 + (i % 3)) % 4]!,
      amount: String(1 + (i % 5)),
    }));
    // Every request twice at once, on two different connections: a retry racing its original.
    const replies = await Promise.all(requests.flatMap((r, i) => [unary(clients[i % 6]!, "Transfer", r), unary(clients[(i + 1) % 6]!, "Transfer", r)]));
    for (const c of clients) c.close();
    for (let i = 0; i < requests.length; i++) expect(replies[2 * i + 1].transfer.id).toBe(replies[2 * i].transfer.id);

    const { rows } = await server.database.sql<{ n: number; distinct_keys: number; total: string }>(
      "SELECT count(*)::int AS n, count(DISTINCT idempotency_key)::int AS distinct_keys FROM transfers WHERE idempotency_key = ANY($1)",
      [requests.map((r) => r.idempotencyKey)],
    );
    expect(rows[0]).toEqual({ n: 120, distinct_keys: 120 });
    const sum = await server.database.sql<{ total: string }>("SELECT sum(posted)::text AS total FROM accounts WHERE id = ANY($1)", [accounts]);
    expect(sum.rows[0]!.total).toBe("4000000");
    await expectBooksBalance(server.database);
    // Both workers served transfers, and only workers did (the primary serves no call).
    const pids = transferPids(server.lines);
    expect([...pids].sort()).toEqual(allForked(server.lines).sort());
  });

  it("runs the background jobs in one worker only, which seals what both wrote", async () => {
    await until(
      async () => (await server.database.sql<{ n: number }>("SELECT count(*)::int AS n FROM audit_events e WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_id = e.id)")).rows[0]!.n,
      (n) => n === 0,
      20_000,
    );
    const [jobsWorker] = forked(server.lines, 0);
    expect(new Set(jobRuns(server.lines).map((l) => l.pid))).toEqual(new Set([jobsWorker]));
    expect(jobRuns(server.lines).some((l) => l.job === "seal-audit-events" && (l.done as number) > 0)).toBe(true);
    expect(server.lines.filter((l) => l.msg === "this worker runs the background jobs").map((l) => l.pid)).toEqual([jobsWorker]);
  });

  it("restarts the jobs worker after SIGKILL; the service keeps answering and the new worker seals", async () => {
    const [victim] = forked(server.lines, 0);
    process.kill(victim!, "SIGKILL");
    const restarted = await server.waitForLine((l) => l.msg === "worker restarted and serving" && l.worker === 0);
    expect(restarted.pid).not.toBe(victim);
    expect(server.lines).toContainEqual(expect.objectContaining({ msg: "worker exited: restarting it", worker: 0, pid: victim, signal: "SIGKILL" }));
    expect(isAlive(victim!)).toBe(false);

    // Fresh connections land on both workers, the new one included, and are answered.
    const [a, b] = await fundedAccounts(server.grpcAddress, 2, 100n);
    const clients = Array.from({ length: 4 }, () => ownChannel(LEDGER, server.grpcAddress));
    await Promise.all(clients.map((c) => unary(c, "Transfer", { idempotencyKey: randomUUID(), debitAccountId: a, creditAccountId: b, amount: "1" })));
    for (const c of clients) c.close();
    expect(transferPids(server.lines).has(restarted.pid)).toBe(true);
    // The audit events of those calls are sealed by the new jobs worker.
    const sealed = await server.waitForLine((l) => l.msg === "background job ran" && l.job === "seal-audit-events" && l.pid === restarted.pid && (l.done as number) > 0);
    expect(sealed.worker).toBe(0);
    await expectBooksBalance(server.database);
  });
});

describe("job wake-ups across workers", () => {
  it("a hold made on the other worker wakes the jobs worker at its expiry, which alone would not look for ten minutes", async () => {
    const server = await startCompiledTestServer(
      { WORKERS: "2", LOG_LEVEL: "debug", HOLD_EXPIRY_INTERVAL_MS: "600000", HOLD_EXPIRY_IDLE_INTERVAL_MS: "600000" },
      "direct",
    );
    const channels: ReturnType<typeof ownChannel>[] = [];
    try {
      const [payer, payee] = await fundedAccounts(server.grpcAddress, 2, 1_000n);
      const jobsWorker = forked(server.lines, 0)[0];
      // A connection that landed on the other worker: the call log says which process served its probe.
      let other: ReturnType<typeof ownChannel> | undefined;
      for (let i = 0; i < 8 && !other; i++) {
        const channel = ownChannel(LEDGER, server.grpcAddress);
        channels.push(channel);
        const requestId = `probe-${randomUUID()}`;
        const metadata = new grpc.Metadata();
        metadata.set("x-request-id", requestId);
        await unary(channel, "GetCurrency", { code: "USD" }, { metadata });
        const served = await server.waitForLine((l) => l.msg === "rpc" && l.request_id === requestId);
        if (served.pid !== jobsWorker) other = channel;
      }
      expect(other).toBeDefined();
      const { hold } = await unary(other!, "CreateHold", { idempotencyKey: randomUUID(), debitAccountId: payer, creditAccountId: payee, amount: "10", currency: "USD", timeoutMs: "500" });
      const status = await until(
        async () => (await server.database.sql<{ status: string }>("SELECT status::text FROM holds WHERE id = $1", [hold.id])).rows[0]!.status,
        (s) => s === "EXPIRED",
        20_000,
      );
      expect(status).toBe("EXPIRED");
      expect(jobRuns(server.lines).filter((l) => l.job === "expire-holds" && (l.done as number) > 0).map((l) => l.pid)).toEqual([jobsWorker]);
    } finally {
      for (const c of channels) c.close();
      await server.close();
    }
  });
});

describe("SIGTERM with calls in flight on both workers", () => {
  it("lets them finish, exits 0 and leaves no worker behind", async () => {
    const server = await startCompiledTestServer({ WORKERS: "2", SHUTDOWN_DRAIN_MS: "30000" }, "direct");
    const locker = new pg.Client({ connectionString: server.database.url });
    try {
      const [payer, payee] = await fundedAccounts(server.grpcAddress, 2, 1_000n);
      // Hold the payer's row: transfers from it wait in the database, in flight, until we let go.
      await locker.connect();
      await locker.query("BEGIN");
      await locker.query("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", [payer]);
      const clients = Array.from({ length: 4 }, () => ownChannel(LEDGER, server.grpcAddress));
      const calls = clients.flatMap((c) =>
        [1, 2].map(() => unary(c, "Transfer", { idempotencyKey: randomUUID(), debitAccountId: payer, creditAccountId: payee, amount: "5" })),
      );
      const waiting = await until(
        async () =>
          (
            await server.database.sql<{ app: string }>(
              "SELECT DISTINCT application_name AS app FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' ORDER BY 1",
            )
          ).rows.map((r) => r.app),
        (apps) => apps.length === 2,
        20_000,
      );
      expect(waiting).toEqual(["ledger-of-record/worker-0", "ledger-of-record/worker-1"]);

      server.child.kill("SIGTERM");
      const workers = allForked(server.lines);
      for (const pid of workers) await server.waitForLine((l) => l.msg === "shutting down" && l.pid === pid);
      await locker.query("COMMIT");
      const replies = await Promise.all(calls);
      expect(replies.map((r) => r.transfer.amount)).toEqual(Array(8).fill("5"));
      for (const c of clients) c.close();

      expect(await server.exited).toEqual({ code: 0, signal: null });
      expect(workers).toHaveLength(2);
      for (const pid of workers) expect(isAlive(pid)).toBe(false);
      expect(server.lines.filter((l) => l.msg === "worker stopped").map((l) => l.code)).toEqual([0, 0]);
    } finally {
      await locker.end().catch(() => undefined);
      await server.close();
    }
  });
});

describe("a worker that keeps dying", () => {
  it("is restarted with a growing delay until the cap, then the primary stops everything and exits 1", async () => {
    const server = await startCompiledTestServer({ WORKERS: "2" }, "direct");
    try {
      const killed: number[] = [];
      while (server.child.exitCode === null) {
        const next = await until(
          async () => forked(server.lines, 1).find((pid) => !killed.includes(pid)),
          (pid) => pid !== undefined || server.child.exitCode !== null,
          30_000,
        );
        if (next === undefined) break;
        killed.push(next);
        process.kill(next, "SIGKILL");
        if (killed.length > 10) throw new Error("the primary never gave up");
      }
      expect(await server.exited).toEqual({ code: 1, signal: null });
      expect(killed).toHaveLength(5);
      const delays = server.lines.filter((l) => l.msg === "worker exited: restarting it").map((l) => l.restart_in_ms);
      expect(delays).toEqual([100, 200, 400, 800]);
      expect(server.lines).toContainEqual(expect.objectContaining({ msg: "workers keep crashing: giving up, stopping", worker: 1, recentCrashes: 5 }));
      for (const pid of allForked(server.lines)) expect(isAlive(pid)).toBe(false);
    } finally {
      await server.close();
    }
  });
});

describe("SIGHUP", () => {
  it("reaches every worker (TLS reload), and the primary keeps serving", async () => {
    const pki = makeTestPki();
    const server = await startCompiledTestServer({ WORKERS: "2", TLS_CERT_FILE: pki.server.certFile, TLS_KEY_FILE: pki.server.keyFile }, "direct");
    try {
      server.child.kill("SIGHUP");
      const sighupReloads = () => server.lines.filter((l) => (l.tls as { trigger?: string } | undefined)?.trigger === "sighup");
      const reloads = await until(async () => sighupReloads(), (r) => r.length === 2, 20_000);
      expect(new Set(reloads.map((l) => l.pid))).toEqual(new Set(allForked(server.lines)));
      const health = ownChannel(HEALTH, `localhost:${server.grpcPort}`, grpc.credentials.createSsl(pki.ca.cert));
      expect((await unary(health, "Check", { service: "" })).status).toBe("SERVING");
      health.close();
      expect(server.child.exitCode).toBe(null);
    } finally {
      await server.close();
      pki.cleanup();
    }
  });
});
