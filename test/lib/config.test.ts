import { describe, expect, it } from "vitest";
import { databaseModeOf, loadConfig } from "../../src/lib/config.js";

describe("configuration", () => {
  it("defaults to the embedded database and documented limits", () => {
    const config = loadConfig({});
    expect(config.databaseMode).toBe("embedded");
    expect(config.grpcPort).toBe(50051);
    expect(config.maxReceiveMessageBytes).toBe(1024 * 1024);
    expect(config.dbTransactionTimeoutMs).toBe(15_000);
    expect(config.dbStatementTimeoutMs).toBe(10_000);
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
});
