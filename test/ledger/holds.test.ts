/** Two-phase transfers: holds reserve, capture (full or partial), void, and expire. */
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { HoldStatus, TransferKind } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { balanceOf, reasonOf, expectFailure, fundedAccount, key, useLedgerServer, userAccount } from "../support/ledger.js";
import { lockAccountRow } from "../support/barrier.js";
import { until } from "../support/poll.js";

const ctx = useLedgerServer({ HOLD_EXPIRY_INTERVAL_MS: "50" });

describe("holds", () => {
  it("reduce only the available balance while pending", async () => {
    const payer = await fundedAccount(ctx.client, 1_000n);
    const payee = await userAccount(ctx.client);
    const { hold } = await ctx.client.createHold({ idempotencyKey: key("hold"), debitAccountId: payer.id, creditAccountId: payee.id, amount: 300n });
    expect(hold?.status).toBe(HoldStatus.PENDING);
    expect(await balanceOf(ctx.client, payer.id)).toMatchObject({ posted: 1_000n, pendingDebits: 300n, available: 700n });
    expect(await balanceOf(ctx.client, payee.id)).toMatchObject({ posted: 0n, pendingCredits: 300n, available: 0n });
    // The reservation counts against new spending.
    await expectFailure(
      ctx.client.transfer({ idempotencyKey: key(), debitAccountId: payer.id, creditAccountId: payee.id, amount: 701n }),
      Code.FailedPrecondition,
      "INSUFFICIENT_FUNDS",
    );
    await expectFailure(
      ctx.client.createHold({ idempotencyKey: key("hold"), debitAccountId: payer.id, creditAccountId: payee.id, amount: 701n }),
      Code.FailedPrecondition,
      "INSUFFICIENT_FUNDS",
    );
    await ctx.client.voidHold({ idempotencyKey: key("void"), holdId: hold!.id });
  });

  it("capture part of a hold: the part is posted, the rest released", async () => {
    const payer = await fundedAccount(ctx.client, 1_000n);
    const payee = await userAccount(ctx.client);
    const { hold } = await ctx.client.createHold({ idempotencyKey: key("hold"), debitAccountId: payer.id, creditAccountId: payee.id, amount: 300n });
    const captured = await ctx.client.captureHold({ idempotencyKey: key("cap"), holdId: hold!.id, amount: 120n });
    expect(captured.hold).toMatchObject({ status: HoldStatus.CAPTURED, capturedAmount: 120n, captureTransferId: captured.transfer!.id });
    expect(captured.transfer).toMatchObject({ kind: TransferKind.HOLD_CAPTURE, holdId: hold!.id, amount: 120n, debitBalanceAfter: 880n });
    expect(await balanceOf(ctx.client, payer.id)).toMatchObject({ posted: 880n, pendingDebits: 0n, available: 880n });
    expect(await balanceOf(ctx.client, payee.id)).toMatchObject({ posted: 120n, pendingCredits: 0n });
    // Once captured, neither capture nor void again (with a new key).
    await expectFailure(ctx.client.captureHold({ idempotencyKey: key("cap"), holdId: hold!.id }), Code.FailedPrecondition, "HOLD_NOT_PENDING");
    await expectFailure(ctx.client.voidHold({ idempotencyKey: key("void"), holdId: hold!.id }), Code.FailedPrecondition, "HOLD_NOT_PENDING");
  });

  it("capture the whole hold with amount 0, never more than the hold", async () => {
    const payer = await fundedAccount(ctx.client, 500n);
    const payee = await userAccount(ctx.client);
    const { hold } = await ctx.client.createHold({ idempotencyKey: key("hold"), debitAccountId: payer.id, creditAccountId: payee.id, amount: 500n });
    await expectFailure(ctx.client.captureHold({ idempotencyKey: key("cap"), holdId: hold!.id, amount: 501n }), Code.InvalidArgument, "INVALID_ARGUMENT", "amount");
    const captured = await ctx.client.captureHold({ idempotencyKey: key("cap"), holdId: hold!.id, amount: 0n });
    expect(captured.transfer?.amount).toBe(500n);
    expect((await balanceOf(ctx.client, payee.id)).posted).toBe(500n);
  });

  it("void releases the funds", async () => {
    const payer = await fundedAccount(ctx.client, 1_000n);
    const payee = await userAccount(ctx.client);
    const { hold } = await ctx.client.createHold({ idempotencyKey: key("hold"), debitAccountId: payer.id, creditAccountId: payee.id, amount: 400n });
    const voidKey = key("void");
    const voided = await ctx.client.voidHold({ idempotencyKey: voidKey, holdId: hold!.id });
    expect(voided.hold?.status).toBe(HoldStatus.VOIDED);
    expect(await ctx.client.voidHold({ idempotencyKey: voidKey, holdId: hold!.id })).toEqual(voided);
    expect(await balanceOf(ctx.client, payer.id)).toMatchObject({ posted: 1_000n, pendingDebits: 0n, available: 1_000n });
    expect((await ctx.client.getHold({ holdId: hold!.id })).hold?.status).toBe(HoldStatus.VOIDED);
  });

  it("expires after its timeout: funds come back, and capture and void answer HOLD_EXPIRED", async () => {
    const payer = await fundedAccount(ctx.client, 1_000n);
    const payee = await userAccount(ctx.client);
    const { hold } = await ctx.client.createHold({
      idempotencyKey: key("hold"),
      debitAccountId: payer.id,
      creditAccountId: payee.id,
      amount: 250n,
      timeoutMs: 1_000n,
    });
    const reserved = await balanceOf(ctx.client, payer.id);
    // Still pending after that read, so pending during it (a hold only leaves PENDING): the read
    // must show the reservation. No guess about how long a read takes.
    expect((await ctx.client.getHold({ holdId: hold!.id })).hold?.status, "the hold expired before its reservation was read").toBe(HoldStatus.PENDING);
    expect(reserved.available).toBe(750n);
    const swept = await until(
      async () => (await ctx.client.getHold({ holdId: hold!.id })).hold?.status,
      (status) => status === HoldStatus.EXPIRED,
      10_000,
    );
    expect(swept).toBe(HoldStatus.EXPIRED);
    expect(await balanceOf(ctx.client, payer.id)).toMatchObject({ posted: 1_000n, pendingDebits: 0n, available: 1_000n });
    expect((await balanceOf(ctx.client, payee.id)).pendingCredits).toBe(0n);
    // Swept or not, an expired hold is HOLD_EXPIRED (not HOLD_NOT_PENDING), and says when it expired.
    const capture = await expectFailure(ctx.client.captureHold({ idempotencyKey: key("cap"), holdId: hold!.id }), Code.FailedPrecondition, "HOLD_EXPIRED", "hold_id");
    expect(capture.findDetails(ErrorInfoSchema)[0]?.metadata.expire_time).toBe(timestampDate(hold!.expireTime!).toISOString());
    await expectFailure(ctx.client.voidHold({ idempotencyKey: key("void"), holdId: hold!.id }), Code.FailedPrecondition, "HOLD_EXPIRED", "hold_id");
  });

  it("refuses a capture or void whose posting would be stamped at or after the expiry, though the transaction began before it", async () => {
    const payer = await fundedAccount(ctx.client, 1_000n);
    const payee = await userAccount(ctx.client);
    const { hold } = await ctx.client.createHold({ idempotencyKey: key("hold"), debitAccountId: payer.id, creditAccountId: payee.id, amount: 100n, timeoutMs: 60_000n });
    // A posting on the payee stamped after the hold's expiry (a transaction that began later committed
    // first): this capture's posting time is raised to it, so it would post after the expiry.
    await ctx.server.database.sql("UPDATE accounts SET updated_at = $2::timestamptz + interval '1 millisecond' WHERE id = $1", [
      payee.id,
      timestampDate(hold!.expireTime!).toISOString(),
    ]);
    await expectFailure(ctx.client.captureHold({ idempotencyKey: key("cap"), holdId: hold!.id }), Code.FailedPrecondition, "HOLD_EXPIRED");
    await expectFailure(ctx.client.voidHold({ idempotencyKey: key("void"), holdId: hold!.id }), Code.FailedPrecondition, "HOLD_EXPIRED");
    const { rows } = await ctx.server.database.sql("SELECT 1 FROM transfers WHERE hold_id = $1", [hold!.id]);
    expect(rows).toEqual([]);
  });

  it("an expiry is stamped with its transaction's clock, as every other write, even when it waited on a lock", async () => {
    const payer = await fundedAccount(ctx.client, 1_000n);
    const payee = await userAccount(ctx.client);
    const { hold } = await ctx.client.createHold({ idempotencyKey: key("hold"), debitAccountId: payer.id, creditAccountId: payee.id, amount: 10n, timeoutMs: 100n });
    // The expiry's transaction begins, then waits for the payer's row.
    const barrier = await lockAccountRow(ctx.server.database, payer.id);
    await barrier.waitForWaiters();
    const { rows } = await ctx.server.database.sql<{ at: Date }>("SELECT clock_timestamp() AS at");
    await barrier.release();
    const expired = await until(
      async () => (await ctx.client.getHold({ holdId: hold!.id })).hold!,
      (h) => h.status === HoldStatus.EXPIRED,
    );
    expect(expired.status).toBe(HoldStatus.EXPIRED);
    // Its stamp is the transaction's time (before the wait ended), not the application's clock after it.
    const stamped = timestampDate(expired.updateTime!);
    expect(stamped.getTime()).toBeLessThan(rows[0]!.at.getTime());
    const { rows: events } = await ctx.server.database.sql<{ occurred_at: Date }>(
      "SELECT occurred_at FROM audit_events WHERE resource_id = $1 AND action = 'ledger.hold.expire'",
      [hold!.id],
    );
    expect(events.map((e) => e.occurred_at.getTime())).toEqual([stamped.getTime()]);
  });

  it("refuses holds on frozen accounts and bad timeouts", async () => {
    const payer = await fundedAccount(ctx.client, 100n);
    const payee = await userAccount(ctx.client);
    await expectFailure(
      ctx.client.createHold({ idempotencyKey: key("hold"), debitAccountId: payer.id, creditAccountId: payee.id, amount: 1n, timeoutMs: -1n }),
      Code.InvalidArgument,
      "INVALID_ARGUMENT",
      "timeout_ms",
    );
    await ctx.client.freezeAccount({ idempotencyKey: key("freeze"), accountId: payee.id });
    await expectFailure(
      ctx.client.createHold({ idempotencyKey: key("hold"), debitAccountId: payer.id, creditAccountId: payee.id, amount: 1n }),
      Code.FailedPrecondition,
      "ACCOUNT_FROZEN",
      "credit_account_id",
    );
  });
});
