import { describe, expect, it } from "vitest";
import { databaseModeOf, loadConfig } from "../../src/lib/config.js";
import { grpcGuardOptions } from "../../src/lib/config-transport.js";
import { loadWorkerConfig, poolShareOf } from "../../src/lib/config-workers.js";

describe("configuration", () => {
  it("defaults to the embedded database and documented limits", () => {
    const config = loadConfig({});
    expect(config.databaseMode).toBe("embedded");
    expect(config.grpcPort).toBe(50051);
    expect(config.maxReceiveMessageBytes).toBe(1024 * 1024);
    expect(config.dbTransactionTimeoutMs).toBe(15_000);
    expect(config.dbStatementTimeoutMs).toBe(10_000);
  });

  it("guards the transports by default (HTTP/2 abuse, docs/HTTP2.md), each tunable, 0 turning the reapers off", () => {
    const defaults = loadConfig({}).transport;
    expect(defaults).toEqual({
      grpcMaxSessionMemoryMb: 32,
      grpcMaxConnectionIdleMs: 300_000,
      grpcMaxConnectionAgeMs: 1_800_000,
      grpcMaxConnectionAgeGraceMs: 30_000,
      connectMaxConnections: 1000,
      connectIdleTimeoutMs: 65_000,
      connectHeadersTimeoutMs: 10_000,
      connectMaxHeaderBytes: 16_384,
      diagnosticsIntervalMs: 0,
    });
    expect(grpcGuardOptions(defaults)).toEqual({
      "grpc-node.max_session_memory": 32,
      "grpc.max_connection_idle_ms": 300_000,
      "grpc.max_connection_age_ms": 1_800_000,
      "grpc.max_connection_age_grace_ms": 30_000,
    });
    const off = loadConfig({ GRPC_MAX_CONNECTION_IDLE_MS: "0", GRPC_MAX_CONNECTION_AGE_MS: "0" }).transport;
    expect(grpcGuardOptions(off)).toEqual({ "grpc-node.max_session_memory": 32 });
    expect(() => loadConfig({ CONNECT_MAX_HEADER_BYTES: "10" })).toThrow(/CONNECT_MAX_HEADER_BYTES must be between 1024/);
    expect(() => loadConfig({ DIAGNOSTICS_INTERVAL_MS: "soon" })).toThrow(/DIAGNOSTICS_INTERVAL_MS must be an integer/);
  });

  it("tells the three database modes apart by URL scheme", () => {
    expect(databaseModeOf("")).toBe("embedded");
    expect(databaseModeOf("postgresql://u@h/db")).toBe("direct");
    expect(databaseModeOf("postgres://u@h/db")).toBe("direct");
    expect(databaseModeOf("prisma://accelerate.prisma-data.net/?api_key=k")).toBe("accelerate");
    expect(databaseModeOf("prisma+postgres://localhost:5555/?api_key=k")).toBe("accelerate");
  });

  it("reads cache lifetimes per kind, and derives the settle horizon from the transaction timeout", () => {
    const defaults = loadConfig({});
    expect(defaults.cacheLifetimes).toEqual({
      profile: { ttlSeconds: 60, swrSeconds: 60 },
      balance: { ttlSeconds: 1, swrSeconds: 1 },
      transfer: { ttlSeconds: 60, swrSeconds: 60 },
      reference: { ttlSeconds: 300, swrSeconds: 3600 },
      final: { ttlSeconds: 86_400, swrSeconds: 0 },
    });
    expect(defaults.settleHorizonMs).toBe(60_000);
    const custom = loadConfig({ CACHE_BALANCE_TTL_SECONDS: "0", CACHE_PROFILE_SWR_SECONDS: "5", DB_TRANSACTION_TIMEOUT_MS: "45000" });
    expect(custom.cacheLifetimes.balance.ttlSeconds).toBe(0);
    expect(custom.cacheLifetimes.profile).toEqual({ ttlSeconds: 60, swrSeconds: 5 });
    expect(custom.settleHorizonMs).toBe(90_000);
    expect(() => loadConfig({ CACHE_FINAL_TTL_SECONDS: "-1" })).toThrow(/CACHE_FINAL_TTL_SECONDS must be between 0/);
  });

  it("rejects malformed values, naming the variable and never echoing a URL", () => {
    expect(() => loadConfig({ PORT: "http" })).toThrow(/PORT must be an integer/);
    expect(() => loadConfig({ DB_POOL_MAX: "0" })).toThrow(/DB_POOL_MAX must be between 1/);
    expect(() => loadConfig({ MIGRATE_ON_START: "maybe" })).toThrow(/MIGRATE_ON_START/);
    expect(() => loadConfig({ DATABASE_URL: "mysql://root:secret@h/db" })).toThrow(/^(?!.*secret).*DATABASE_URL must start with/);
  });

  it("runs a worker per core by default, with a total pool that fits max_connections=100", () => {
    expect(loadWorkerConfig({}, "direct", 1)).toEqual({ workers: 1, dbPoolMax: 10 });
    expect(loadWorkerConfig({}, "direct", 2)).toEqual({ workers: 2, dbPoolMax: 10 });
    expect(loadWorkerConfig({}, "direct", 8)).toEqual({ workers: 8, dbPoolMax: 32 });
    expect(loadWorkerConfig({}, "direct", 24)).toEqual({ workers: 24, dbPoolMax: 80 });
    expect(loadWorkerConfig({}, "direct", 256)).toEqual({ workers: 64, dbPoolMax: 80 });
    expect(loadWorkerConfig({ WORKERS: "1" }, "direct", 8)).toEqual({ workers: 1, dbPoolMax: 10 });
    // An explicit pool is the instance's total: the default never forks more workers than it has connections.
    expect(loadWorkerConfig({ DB_POOL_MAX: "3" }, "direct", 8)).toEqual({ workers: 3, dbPoolMax: 3 });
    expect(loadWorkerConfig({ DB_POOL_MAX: "3" }, "accelerate", 8)).toEqual({ workers: 8, dbPoolMax: 3 });
  });

  it("refuses a WORKERS out of range or above an explicit DB_POOL_MAX, naming them", () => {
    expect(() => loadConfig({ WORKERS: "0" })).toThrow(/WORKERS must be between 1 and 64, got 0/);
    expect(() => loadConfig({ WORKERS: "65" })).toThrow(/WORKERS must be between 1 and 64/);
    expect(() => loadConfig({ WORKERS: "4", DB_POOL_MAX: "3" })).toThrow(/DB_POOL_MAX .* at least WORKERS \(4\), got 3/);
    expect(loadConfig({ WORKERS: "4", DB_POOL_MAX: "4" })).toMatchObject({ workers: 4, dbPoolMax: 4 });
  });

  it("splits the pool evenly between workers, the remainder to the first ones", () => {
    expect([0, 1, 2].map((i) => poolShareOf(10, 3, i))).toEqual([4, 3, 3]);
    expect([0, 1].map((i) => poolShareOf(10, 2, i))).toEqual([5, 5]);
    expect(poolShareOf(10, 1, 0)).toBe(10);
    expect(() => poolShareOf(10, 2, 2)).toThrow(/not in 0..1/);
  });
});
