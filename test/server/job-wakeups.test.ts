/**
 * Idle background jobs back off (over Accelerate every probe is a billed
 * query), so the work a write creates must wake them. Here both jobs are let
 * idle until their next planned probe is seconds away; a write must still be
 * followed promptly: its audit event sealed, its hold expired on time.
 *
 * The scheduler's planned times are exact (test/server/jobs.test.ts); the
 * margins below are whole seconds, so the outcome does not hang on speed.
 */
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { AuditService } from "../../src/gen/aevon/audit/v1/audit_pb.js";
import { HoldStatus } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { fundedAccount, identityClient, key, useLedgerServer } from "../support/ledger.js";
import { until } from "../support/poll.js";

// Busy cadence as usual; idle back-off practically unbounded.
const ctx = useLedgerServer({
  AUDIT_SEAL_INTERVAL_MS: "100",
  AUDIT_SEAL_IDLE_INTERVAL_MS: "600000",
  HOLD_EXPIRY_INTERVAL_MS: "250",
  HOLD_EXPIRY_IDLE_INTERVAL_MS: "600000",
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a write wakes the idle job it gives work to", () => {
  it("the sealer seals a new event though its next probe was seconds away", async () => {
    const audit = createClient(AuditService, createGrpcTransport({ baseUrl: `http://${ctx.server.grpcAddress}` }));
    // Let the sealer go idle: probes planned from start-up at 100, 300, 700, 1500, 3100, 6300 ms.
    await until(() => audit.checkpoint({}), (c) => c.unsealedCount === 0n, 5_000);
    await sleep(1_700);
    await identityClient(ctx.client).createUser({ idempotencyKey: key(), handle: `wake${Date.now()}` });
    const checkpoint = await until(() => audit.checkpoint({}), (c) => c.unsealedCount === 0n, 1_000);
    expect(checkpoint.unsealedCount).toBe(0n);
  });

  it("the expiry job releases a new hold at its expiry though its next probe was seconds away", async () => {
    const from = await fundedAccount(ctx.client, 100n);
    const to = await fundedAccount(ctx.client, 0n);
    // The expiry job has idled since start-up (gaps 250, 500, 1000, 2000, 4000 ms …); let it idle more.
    await sleep(1_000);
    const { hold } = await ctx.client.createHold({ idempotencyKey: key(), debitAccountId: from.id, creditAccountId: to.id, amount: 30n, timeoutMs: 300n });
    const released = await until(
      async () => (await ctx.client.getHold({ holdId: hold!.id })).hold!,
      (h) => h.status !== HoldStatus.PENDING,
      1_300,
    );
    expect(released.status).toBe(HoldStatus.EXPIRED);
  });
});
