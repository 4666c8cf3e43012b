/**
 * Idle background jobs back off (over Accelerate every probe is a billed
 * query), so the work a write creates must wake them. Each case is set up so
 * that the job's own schedule cannot do the work within the budget: only the
 * wake can.
 *
 * - The hold-expiry job's interval is 20 s, so it never runs on its own
 *   while the case lasts; the new hold's wake (at its expiry) is the only run.
 * - The sealer's wake runs it within its interval (100 ms), so its schedule
 *   cannot be pushed out of the way the same: instead the write is made deep
 *   in an idle gap. Un-woken, it probes at start + 100 × (2^n − 1) ms
 *   (test/server/jobs.test.ts), each probe later by the time runs take: 6.3 s,
 *   then 12.7 s. The write comes at 7.8 s and the budget ends at 10.3 s.
 */
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { beforeAll, describe, expect, it } from "vitest";
import { AuditService } from "../../src/gen/aevon/audit/v1/audit_pb.js";
import { HoldStatus } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { fundedAccount, identityClient, key, useLedgerServer } from "../support/ledger.js";
import { until } from "../support/poll.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a write wakes the idle sealer", () => {
  // Busy cadence as usual; idle back-off practically unbounded; hold expiry out of the way.
  const ctx = useLedgerServer({ AUDIT_SEAL_INTERVAL_MS: "100", AUDIT_SEAL_IDLE_INTERVAL_MS: "600000", HOLD_EXPIRY_INTERVAL_MS: "600000" });
  /** Just after the server started its jobs (startServer starts them last). */
  let startedAt = 0;
  beforeAll(() => {
    startedAt = Date.now();
  });

  it("seals a new event though its next probe is seconds away", async () => {
    const audit = createClient(AuditService, createGrpcTransport({ baseUrl: `http://${ctx.server.grpcAddress}` }));
    // Nothing was written yet: every probe so far found nothing, so the gaps only grew.
    expect((await audit.checkpoint({})).unsealedCount).toBe(0n);
    await sleep(startedAt + 7_800 - Date.now());
    await identityClient(ctx.client).createUser({ idempotencyKey: key(), handle: `wake${Date.now()}` });
    const checkpoint = await until(() => audit.checkpoint({}), (c) => c.unsealedCount === 0n, 2_500);
    expect(checkpoint.unsealedCount).toBe(0n);
  });
});

describe("a new hold wakes the idle expiry job at its expiry", () => {
  const ctx = useLedgerServer({ HOLD_EXPIRY_INTERVAL_MS: "20000", HOLD_EXPIRY_IDLE_INTERVAL_MS: "600000" });

  it("releases the hold on time though the job's first run is 20 s away", async () => {
    const from = await fundedAccount(ctx.client, 100n);
    const to = await fundedAccount(ctx.client, 0n);
    const { hold } = await ctx.client.createHold({ idempotencyKey: key(), debitAccountId: from.id, creditAccountId: to.id, amount: 30n, timeoutMs: 300n });
    // The woken run comes at the expiry (or, if it comes a hair early by the
    // database's clock, again a tenth of the interval later: 2 s).
    const released = await until(
      async () => (await ctx.client.getHold({ holdId: hold!.id })).hold!,
      (h) => h.status !== HoldStatus.PENDING,
      5_000,
    );
    expect(released.status).toBe(HoldStatus.EXPIRED);
    expect((await ctx.client.getBalance({ accountId: from.id })).balance?.available).toBe(100n);
  });
});
