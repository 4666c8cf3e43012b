/** Pending migrations: applied before serving by default; with MIGRATE_ON_START=false the server refuses, naming the command. */
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/lib/config.js";
import { PendingMigrationsError, startServer } from "../../src/server/app.js";
import { createEmptyDatabase, type TestDatabase } from "../support/db.js";
import { startQueryPlanExecutor } from "../support/accelerate.js";
import { loadClient, unary } from "../support/foreign-client.js";

const silent = pino({ level: "silent" });
const dbs: TestDatabase[] = [];
afterEach(async () => {
  while (dbs.length) await dbs.pop()!.drop();
});

describe("start-up with pending migrations", () => {
  it("refuses to serve when MIGRATE_ON_START=false, naming the command", async () => {
    const db = await createEmptyDatabase();
    dbs.push(db);
    const config = loadConfig({ DATABASE_URL: db.url, PORT: "0", CONNECT_PORT: "-1", METRICS_PORT: "-1", HOST: "127.0.0.1", MIGRATE_ON_START: "false" });
    const error = await startServer(config, silent).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PendingMigrationsError);
    expect((error as Error).message).toMatch(/npm run migrate:deploy/);
    const tables = await db.sql<{ n: number }>("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'");
    expect(tables.rows[0]?.n).toBe(0);
  });

  it("applies pending migrations before serving by default", async () => {
    const db = await createEmptyDatabase();
    dbs.push(db);
    const server = await startServer(loadConfig({ DATABASE_URL: db.url, PORT: "0", CONNECT_PORT: "-1", METRICS_PORT: "-1", HOST: "127.0.0.1" }), silent);
    try {
      const ledger = loadClient("aevon/ledger/v1/ledger.proto", "aevon.ledger.v1.LedgerService", `127.0.0.1:${server.grpcPort}`);
      expect((await unary(ledger, "GetCurrency", { code: "USD" })).currency.scale).toBe(2);
      ledger.close();
    } finally {
      await server.stop();
    }
  });
});

describe("start-up: what the database mode means", () => {
  /** A logger that keeps its lines. */
  function recordingLogger() {
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    return { logger, lines };
  }
  const WARN = 40;

  it("warns on a direct client that caching and invalidation are ignored", async () => {
    const db = await createEmptyDatabase();
    dbs.push(db);
    const { logger, lines } = recordingLogger();
    const server = await startServer(loadConfig({ DATABASE_URL: db.url, PORT: "0", CONNECT_PORT: "-1", METRICS_PORT: "-1", HOST: "127.0.0.1" }), logger);
    await server.stop();
    const warning = lines.find((l) => l.level === WARN && /Accelerate is off/.test(l.msg));
    expect(warning?.msg).toMatch(/ignores cacheStrategy and cache invalidation/);
  });

  it("on Accelerate: no such warning, a warning past Accelerate's transaction limit, and migrations invalidate cached currencies", async () => {
    const db = await createEmptyDatabase();
    dbs.push(db);
    const executor = await startQueryPlanExecutor(db.url);
    const { logger, lines } = recordingLogger();
    try {
      const config = loadConfig({
        DATABASE_URL: executor.url,
        DIRECT_DATABASE_URL: db.url,
        DB_TRANSACTION_TIMEOUT_MS: "20000",
        PORT: "0",
        CONNECT_PORT: "-1", METRICS_PORT: "-1",
        HOST: "127.0.0.1",
      });
      const server = await startServer(config, logger);
      await server.stop();
    } finally {
      await executor.stop();
    }
    expect(lines.filter((l) => /Accelerate is off|statement_timeout/.test(l.msg))).toEqual([]);
    expect(lines.find((l) => l.level === WARN && /DB_TRANSACTION_TIMEOUT_MS/.test(l.msg))?.msg).toMatch(/Accelerate's default interactive-transaction limit/);
    // The database was empty: every migration was applied through DIRECT_DATABASE_URL.
    expect(executor.invalidations).toEqual([["currencies"]]);
  });

  it("on Accelerate: warns when the connections behind it have no statement_timeout", async () => {
    const db = await createEmptyDatabase();
    dbs.push(db);
    const executor = await startQueryPlanExecutor(db.url, { statementTimeoutMs: 0 });
    const { logger, lines } = recordingLogger();
    try {
      const config = loadConfig({ DATABASE_URL: executor.url, DIRECT_DATABASE_URL: db.url, PORT: "0", CONNECT_PORT: "-1", METRICS_PORT: "-1", HOST: "127.0.0.1" });
      const server = await startServer(config, logger);
      await server.stop();
    } finally {
      await executor.stop();
    }
    expect(lines.find((l) => l.level === WARN && /statement_timeout/.test(l.msg))?.msg).toMatch(/options=-c statement_timeout=10000/);
  });
});

describe("a start that fails half-way", () => {
  it("leaves nothing running: no background job works on the database after startServer has failed", async () => {
    const { createTestDatabase } = await import("../support/db.js");
    const db = await createTestDatabase();
    dbs.push(db);
    const taken = (await import("node:net")).createServer().listen(0, "127.0.0.1");
    await new Promise((r) => taken.once("listening", r));
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const config = loadConfig({
      DATABASE_URL: db.url,
      HOST: "127.0.0.1",
      PORT: String((taken.address() as { port: number }).port),
      CONNECT_PORT: "-1", METRICS_PORT: "-1",
      // Jobs that would run every 10 ms if they had been started.
      AUDIT_SEAL_INTERVAL_MS: "10",
      AUDIT_SEAL_IDLE_INTERVAL_MS: "10",
      HOLD_EXPIRY_INTERVAL_MS: "10",
      HOLD_EXPIRY_IDLE_INTERVAL_MS: "10",
      HEALTH_CHECK_INTERVAL_MS: "100",
    });
    try {
      await expect(startServer(config, logger)).rejects.toThrow();
    } finally {
      taken.close();
    }
    const failedAt = lines.length;
    // An event to seal: a sealer left running would chain it within a tick or two.
    await db.sql(
      "INSERT INTO audit_events (occurred_at, actor, action, resource_type, resource_id, request_id, payload) VALUES (date_trunc('milliseconds', now()), 'test', 'test.probe', 'test', 'x', '', '{}')",
    );
    // Many job ticks and a few health probes, had any been left running.
    await new Promise((r) => setTimeout(r, 500));
    const { rows } = await db.sql<{ n: number }>("SELECT count(*)::int AS n FROM audit_seals");
    expect(rows[0]!.n).toBe(0);
    expect(lines.slice(failedAt).map((l) => l.msg)).toEqual([]);
  });
});
