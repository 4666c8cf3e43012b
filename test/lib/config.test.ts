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

  it("rejects malformed values, naming the variable and never echoing a URL", () => {
    expect(() => loadConfig({ PORT: "http" })).toThrow(/PORT must be an integer/);
    expect(() => loadConfig({ DB_POOL_MAX: "0" })).toThrow(/DB_POOL_MAX must be between 1/);
    expect(() => loadConfig({ MIGRATE_ON_START: "maybe" })).toThrow(/MIGRATE_ON_START/);
    expect(() => loadConfig({ DATABASE_URL: "mysql://root:secret@h/db" })).toThrow(/^(?!.*secret).*DATABASE_URL must start with/);
  });
});
