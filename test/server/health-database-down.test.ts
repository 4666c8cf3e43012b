/** Health follows the database: when it stops answering, every service goes NOT_SERVING. */
import pg from "pg";
import { inject } from "vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadClient, unary } from "../support/foreign-client.js";
import { startTestServer, type TestServer } from "../support/server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ HEALTH_CHECK_INTERVAL_MS: "100" });
});
afterAll(async () => {
  await server?.close();
});

describe("health when the database goes away", () => {
  it("turns NOT_SERVING for the server and each service", async () => {
    const health = loadClient("grpc/health/v1/health.proto", "grpc.health.v1.Health", server.grpcAddress);
    expect((await unary(health, "Check", { service: "aevon.ledger.v1.LedgerService" })).status).toBe("SERVING");
    const watch = health.Watch({ service: "aevon.ledger.v1.LedgerService" });
    const seen: string[] = [];
    const sawNotServing = new Promise<void>((resolve) =>
      watch.on("data", (m: { status: string }) => {
        seen.push(m.status);
        if (m.status === "NOT_SERVING") resolve();
      }),
    );
    watch.on("error", () => undefined);

    // Take the database away from under the pool.
    const admin = new pg.Client({ connectionString: inject("adminUrl") });
    await admin.connect();
    await admin.query(`DROP DATABASE ${server.database.name} WITH (FORCE)`);
    await admin.end();

    expect(await server.health.probe()).toBe("NOT_SERVING");
    expect((await unary(health, "Check", { service: "" })).status).toBe("NOT_SERVING");
    expect((await unary(health, "Check", { service: "aevon.ledger.v1.LedgerService" })).status).toBe("NOT_SERVING");
    const listed = await unary(health, "List", {});
    expect(listed.statuses[""].status).toBe("NOT_SERVING");
    // Watchers are told of the change without asking.
    await sawNotServing;
    expect(seen).toEqual(["SERVING", "NOT_SERVING"]);
    watch.cancel();
    health.close();
  });
});
