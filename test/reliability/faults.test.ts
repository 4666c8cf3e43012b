/**
 * Faults under load, each followed by the model's invariant checks:
 * replicas SIGKILLed (their unanswered calls re-sent with their keys to the
 * survivors), the service's PostgreSQL connections terminated, PostgreSQL
 * itself stopped and started again (an embedded cluster the test owns), and
 * the Accelerate executor killed and restarted on its port.
 */
import { Code } from "@connectrpc/connect";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "../../src/db/embedded.js";
import { loadConfig } from "../../src/lib/config.js";
import { startServer } from "../../src/server/app.js";
import { startQueryPlanExecutor } from "../support/accelerate.js";
import type { CompiledServer } from "../support/compiled-server.js";
import { createTestDatabase } from "../support/db.js";
import { loadClient, unary } from "../support/foreign-client.js";
import { expectBooksBalance, identityClient, issuance, key, ledgerClient, rejection, userAccount, type LedgerClient } from "../support/ledger.js";
import { faultAnswers, freePort, sleep, startReplyHold } from "../support/model/faults.js";
import type { Target } from "../support/model/ops.js";
import { modelSeed } from "../support/model/rng.js";
import { runModel } from "../support/model/run-model.js";
import { until } from "../support/poll.js";
import { startReplicaProcess } from "../support/replica.js";
import { startTestServer } from "../support/server.js";

const target = (name: string, address: { grpcAddress: string }): Target => {
  const ledger = ledgerClient(address);
  return { name, ledger, identity: identityClient(ledger), alive: true };
};

describe("a replica SIGKILLed under load, three times", () => {
  it("every unanswered call re-sent with its key to a surviving replica: nothing lost, nothing doubled", async () => {
    const database = await createTestDatabase();
    const replicas: CompiledServer[] = await Promise.all([0, 1, 2].map(() => startReplicaProcess(database, { HOLD_EXPIRY_INTERVAL_MS: "100" })));
    const targets = replicas.map((r, i) => target(`r${i}`, r));
    try {
      const result = await runModel({
        name: "SIGKILL",
        seed: modelSeed(),
        db: database,
        targets,
        maxOps: 100_000,
        budgetMs: Number(process.env.MODEL_BUDGET_MS ?? 9_000),
        during: async (workload) => {
          for (let kill = 0; kill < 3; kill++) {
            await sleep(1_500);
            const i = targets.findIndex((t) => t.alive);
            targets[i]!.alive = false;
            replicas[i]!.child.kill("SIGKILL");
            await replicas[i]!.exited;
            workload.run.counts.faults++;
            // A fresh replica replaces it, so two or more stay up.
            const fresh = await startReplicaProcess(database, { HOLD_EXPIRY_INTERVAL_MS: "100" });
            replicas.push(fresh);
            targets.push(target(`r${replicas.length - 1}`, fresh));
          }
        },
      });
      console.log(`[faults SIGKILL] answers while replicas died: ${JSON.stringify(faultAnswers(result.run))}`);
      expect(result.failure).toBe("");
      expect(result.counts.unresolved).toBe(0);
      expect(result.counts.faults).toBe(3);
      // The killed process answers nothing: the client reads its dead connection as UNAVAILABLE,
      // ABORTED (connect-node's ECONNRESET) or CANCELLED (a reset stream), with no ErrorInfo.
      expect(Object.keys(faultAnswers(result.run)).filter((a) => !["Unavailable", "Aborted", "Canceled"].includes(a))).toEqual([]);
    } finally {
      await Promise.all(replicas.map((r) => r.stop("SIGTERM")));
      await database.drop();
    }
  }, 120_000);
});

describe("the service's database connections terminated under load", () => {
  it("calls answer only UNAVAILABLE or ABORTED meanwhile, and the service recovers without a restart", async () => {
    // A service process of its own: a connection error it failed to handle would end it (and the run).
    const database = await createTestDatabase();
    const server = await startReplicaProcess(database, { HOLD_EXPIRY_INTERVAL_MS: "100" });
    try {
      let terminated = 0;
      const result = await runModel({
        name: "pg_terminate_backend",
        seed: modelSeed(),
        db: database,
        targets: [target("s0", server)],
        maxOps: 100_000,
        budgetMs: 4_000,
        during: async (workload) => {
          for (let i = 0; i < 3; i++) {
            await sleep(800);
            const { rows } = await database.sql<{ n: number }>(
              `WITH s AS MATERIALIZED (SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend')
               SELECT count(*)::int AS n FROM s WHERE pg_terminate_backend(pid)`,
            );
            terminated += rows[0]!.n;
            workload.run.counts.faults++;
          }
        },
      });
      const answers = faultAnswers(result.run);
      console.log(`[faults pg_terminate_backend] ${terminated} backends terminated; answers meanwhile: ${JSON.stringify(answers)}`);
      // Before the fix in src/lib/prisma.ts, a terminated connection could end the process (unhandled 'error').
      expect({ exitCode: server.child.exitCode, signal: server.child.signalCode }).toEqual({ exitCode: null, signal: null });
      expect(result.failure).toBe("");
      expect(result.counts.unresolved).toBe(0);
      expect(terminated).toBeGreaterThan(0);
      expect(Object.keys(answers).filter((a) => !a.startsWith("Unavailable") && !a.startsWith("Aborted"))).toEqual([]);
    } finally {
      await server.stop();
      await database.drop();
    }
  }, 90_000);
});

describe("PostgreSQL stopped and started again under the running service", () => {
  it("health goes NOT_SERVING and calls answer UNAVAILABLE; once it is back, health is SERVING and calls succeed, without restarting the service", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "lor-pg-restart-"));
    // mkdtemp makes a 0700 folder; PostgreSQL runs as the `postgres` user when we are root.
    await chmod(dir, 0o755);
    const port = await freePort();
    let pg: EmbeddedDatabase | undefined = await startEmbeddedPostgres({ dataDir: path.join(dir, "data"), port });
    const config = loadConfig({
      DATABASE_URL: pg.url,
      MIGRATION_DATABASE_URL: pg.adminUrl,
      HOST: "127.0.0.1",
      PORT: "0",
      CONNECT_PORT: "-1",
      METRICS_PORT: "-1",
      DB_POOL_MAX: "4",
      HEALTH_CHECK_INTERVAL_MS: "200",
      SHUTDOWN_DRAIN_MS: "1000",
    });
    const server = await startServer(config, pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }));
    const address = `127.0.0.1:${server.grpcPort}`;
    const health = loadClient("grpc/health/v1/health.proto", "grpc.health.v1.Health", address);
    const status = async () => (await unary<{ status: string }>(health, "Check", { service: "" })).status;
    const client: LedgerClient = ledgerClient({ grpcAddress: address });
    try {
      expect(await until(status, (s) => s === "SERVING", 5_000)).toBe("SERVING");
      const payee = await userAccount(client);
      const issuanceId = await issuance(client);
      const pay = (k: string) => client.transfer({ idempotencyKey: k, debitAccountId: issuanceId, creditAccountId: payee.id, amount: 5n }, { timeoutMs: 5_000 });
      await pay(key("before"));

      await pg.stop();
      pg = undefined;
      expect(await until(status, (s) => s === "NOT_SERVING", 10_000)).toBe("NOT_SERVING");
      const during = key("during");
      const refused = await rejection(pay(during));
      expect(Code[refused.code]).toBe("Unavailable");
      expect((await rejection(client.getBalance({ accountId: payee.id }, { timeoutMs: 5_000 }))).code).toBe(Code.Unavailable);

      pg = await startEmbeddedPostgres({ dataDir: path.join(dir, "data"), port });
      expect(await until(status, (s) => s === "SERVING", 15_000)).toBe("SERVING");
      // The key of the refused call applies now, once; new calls succeed.
      const retried = await pay(during);
      expect((await pay(during)).transfer!.id).toBe(retried.transfer!.id);
      await pay(key("after"));
      expect((await client.getBalance({ accountId: payee.id })).balance!.posted).toBe(15n);
    } finally {
      health.close();
      await server.stop();
      await pg?.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);
});

describe("the Accelerate executor killed and restarted on its port", () => {
  it("calls answer UNAVAILABLE while it is gone, then succeed again without restarting the service", async () => {
    const server = await startTestServer({}, undefined, "accelerate");
    const client = ledgerClient(server);
    let executor = server.executor!;
    const url = new URL(executor.url);
    try {
      const payee = await userAccount(client);
      const issuanceId = await issuance(client);
      const pay = (k: string) => client.transfer({ idempotencyKey: k, debitAccountId: issuanceId, creditAccountId: payee.id, amount: 7n }, { timeoutMs: 15_000 });
      await pay(key("before"));

      await executor.stop();
      const during = key("during");
      expect(Code[(await rejection(pay(during))).code]).toBe("Unavailable");
      expect(Code[(await rejection(client.getBalance({ accountId: payee.id }))).code]).toBe("Unavailable");

      executor = await startQueryPlanExecutor(server.database.url, {}, { port: Number(url.port), apiKey: url.searchParams.get("api_key")! });
      const retried = await pay(during);
      expect((await pay(during)).transfer!.id).toBe(retried.transfer!.id);
      await pay(key("after"));
      expect((await client.getBalance({ accountId: payee.id })).balance!.posted).toBe(21n);
      await expectBooksBalance(server.database);
    } finally {
      await server.stop();
      await executor.stop();
      await server.database.drop();
    }
  }, 90_000);
});

describe("a deadline that expires after the commit", () => {
  // (One that expires before the commit leaves nothing: test/ledger/final-outcomes.test.ts,
  // "a transfer whose deadline passed while queued never commits, even once funds are there".)
  it("the call answers DEADLINE_EXCEEDED, the transfer stands once, and the retry with its key returns it", async () => {
    const server = await startTestServer();
    const proxy = await startReplyHold(server.grpcAddress);
    try {
      const direct = ledgerClient(server);
      const payee = await userAccount(direct);
      const request = { idempotencyKey: key("late-reply"), debitAccountId: await issuance(direct), creditAccountId: payee.id, amount: 9n };
      const viaProxy = ledgerClient(proxy);
      await viaProxy.getBalance({ accountId: payee.id }); // the connection is up before the replies are held
      proxy.hold();
      const call = rejection(viaProxy.transfer(request, { timeoutMs: 1_500 }));
      const stored = await until(
        async () => (await server.database.sql<{ id: string }>("SELECT id FROM transfers WHERE idempotency_key = $1", [request.idempotencyKey])).rows,
        (rows) => rows.length > 0,
        5_000,
      );
      expect(stored).toHaveLength(1);
      expect((await call).code).toBe(Code.DeadlineExceeded);
      proxy.release();
      const retried = await ledgerClient(server).transfer(request);
      expect(retried.transfer!.id).toBe(stored[0]!.id);
      const { rows } = await server.database.sql<{ n: number }>("SELECT count(*)::int AS n FROM transfers WHERE idempotency_key = $1", [request.idempotencyKey]);
      expect(rows[0]!.n).toBe(1);
      expect((await direct.getBalance({ accountId: payee.id })).balance!.posted).toBe(9n);
    } finally {
      await proxy.stop();
      await server.close();
    }
  }, 60_000);
});
