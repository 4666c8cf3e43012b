/** Two-phase transfers: holds reserve, capture (full or partial), void, and expire. */
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { HoldStatus, TransferKind } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { balanceOf, reasonOf, expectFailure, fundedAccount, key, useLedgerServer, userAccount } from "../support/ledger.js";
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

  it("expires after its timeout: funds come back and a capture fails", async () => {
    const payer = await fundedAccount(ctx.client, 1_000n);
    const payee = await userAccount(ctx.client);
    const { hold } = await ctx.client.createHold({
      idempotencyKey: key("hold"),
      debitAccountId: payer.id,
      creditAccountId: payee.id,
      amount: 250n,
      timeoutMs: 300n,
    });
    expect((await balanceOf(ctx.client, payer.id)).available).toBe(750n);
    await new Promise((r) => setTimeout(r, 350));
    const error = await expectFailure(ctx.client.captureHold({ idempotencyKey: key("cap"), holdId: hold!.id }), Code.FailedPrecondition);
    // Expired by the clock (HOLD_EXPIRED) or already swept (HOLD_NOT_PENDING): either way, no capture.
    expect(["HOLD_EXPIRED", "HOLD_NOT_PENDING"]).toContain(reasonOf(error));
    const released = await until(
      () => balanceOf(ctx.client, payer.id),
      (b) => b.available === 1_000n,
    );
    expect(released).toMatchObject({ posted: 1_000n, pendingDebits: 0n, available: 1_000n });
    expect((await ctx.client.getHold({ holdId: hold!.id })).hold?.status).toBe(HoldStatus.EXPIRED);
    expect((await balanceOf(ctx.client, payee.id)).pendingCredits).toBe(0n);
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
