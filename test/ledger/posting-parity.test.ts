/**
 * Transfer is posted by a SQL function (one statement per group); batches,
 * holds, captures and reversals by the service's PostingSession. The two
 * must apply the same rules in the same order with the same answers: each
 * case below goes through both (a Transfer, and a one-leg TransferBatch) and
 * must be refused identically, but for the leg's prefix.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { fundedAccount, identityClient, issuance, key, rejection, useLedgerServer, userAccount } from "../support/ledger.js";

const ctx = useLedgerServer();

type Leg = { debitAccountId: string; creditAccountId: string; amount: bigint; currency?: string };

function answer(error: ConnectError) {
  const info = error.findDetails(ErrorInfoSchema)[0];
  return { code: Code[error.code], reason: info?.reason, field: info?.metadata.field, message: error.rawMessage, metadata: { ...info?.metadata } };
}

/** The same leg as a Transfer and as a one-leg batch: the batch's answer is the Transfer's, prefixed. */
async function expectSameRefusal(leg: Leg, reason: string) {
  const single = answer(await rejection(ctx.client.transfer({ idempotencyKey: key("t"), ...leg })));
  const batch = answer(await rejection(ctx.client.transferBatch({ idempotencyKey: key("b"), legs: [leg] })));
  expect(single.reason).toBe(reason);
  expect(batch).toEqual({
    code: single.code,
    reason: single.reason,
    field: `legs[0].${single.field}`,
    message: `legs[0]: ${single.message}`,
    metadata: { ...single.metadata, field: `legs[0].${single.field}`, leg_index: "0" },
  });
}

const missing = "0190a0a0-0000-7000-8000-0000000000ff";

describe("the SQL function and PostingSession agree", () => {
  it("on missing accounts", async () => {
    const a = await fundedAccount(ctx.client, 100n);
    await expectSameRefusal({ debitAccountId: missing, creditAccountId: a.id, amount: 1n }, "NOT_FOUND");
    await expectSameRefusal({ debitAccountId: a.id, creditAccountId: missing, amount: 1n }, "NOT_FOUND");
  });

  it("on frozen and closed accounts, debit side first", async () => {
    const a = await fundedAccount(ctx.client, 100n);
    const b = await userAccount(ctx.client);
    await ctx.client.freezeAccount({ idempotencyKey: key("f"), accountId: b.id });
    await expectSameRefusal({ debitAccountId: a.id, creditAccountId: b.id, amount: 1n }, "ACCOUNT_FROZEN");
    await ctx.client.freezeAccount({ idempotencyKey: key("f"), accountId: a.id });
    await expectSameRefusal({ debitAccountId: a.id, creditAccountId: b.id, amount: 1n }, "ACCOUNT_FROZEN");
    const empty = await userAccount(ctx.client);
    await ctx.client.closeAccount({ idempotencyKey: key("c"), accountId: empty.id });
    await expectSameRefusal({ debitAccountId: await issuance(ctx.client), creditAccountId: empty.id, amount: 1n }, "ACCOUNT_CLOSED");
  });

  it("on suspended and deleted owners", async () => {
    const identity = identityClient(ctx.client);
    const payer = await fundedAccount(ctx.client, 100n);
    const owner = (await identity.createUser({ idempotencyKey: key("u"), handle: `p${Date.now().toString(36)}` })).user!;
    await ctx.client.transfer({ idempotencyKey: key("fund"), debitAccountId: await issuance(ctx.client, "AEV"), creditAccountId: owner.defaultAccountId, amount: 50n });
    const other = await userAccount(ctx.client, { currency: "AEV" });
    await identity.suspendUser({ idempotencyKey: key("s"), userId: owner.id });
    await expectSameRefusal({ debitAccountId: owner.defaultAccountId, creditAccountId: other.id, amount: 1n }, "USER_SUSPENDED");
    await identity.deleteUser({ idempotencyKey: key("d"), userId: owner.id });
    await expectSameRefusal({ debitAccountId: other.id, creditAccountId: owner.defaultAccountId, amount: 1n }, "USER_DELETED");
    void payer;
  });

  it("on currencies, funds and overflow, in that order", async () => {
    const usd = await fundedAccount(ctx.client, 100n);
    const eur = await userAccount(ctx.client, { currency: "EUR" });
    const usd2 = await userAccount(ctx.client);
    await expectSameRefusal({ debitAccountId: usd.id, creditAccountId: eur.id, amount: 1n }, "CURRENCY_MISMATCH");
    await expectSameRefusal({ debitAccountId: usd.id, creditAccountId: usd2.id, amount: 1n, currency: "EUR" }, "CURRENCY_MISMATCH");
    await expectSameRefusal({ debitAccountId: usd.id, creditAccountId: usd2.id, amount: 101n }, "INSUFFICIENT_FUNDS");
    await expectSameRefusal({ debitAccountId: usd.id, creditAccountId: usd2.id, amount: 9_223_372_036_854_775_807n }, "INSUFFICIENT_FUNDS");
    // From an unbounded system account: the credit side overflows.
    await ctx.client.transfer({ idempotencyKey: key("big"), debitAccountId: await issuance(ctx.client), creditAccountId: usd2.id, amount: 9_223_372_036_854_775_000n });
    await expectSameRefusal({ debitAccountId: await issuance(ctx.client), creditAccountId: usd2.id, amount: 1_000n }, "AMOUNT_OVERFLOW");
  });

  it("on a posting: the same balances, versions and entries", async () => {
    const a = await fundedAccount(ctx.client, 100n);
    const b = await userAccount(ctx.client);
    const { transfer } = await ctx.client.transfer({ idempotencyKey: key("t"), debitAccountId: a.id, creditAccountId: b.id, amount: 7n, memo: "one" });
    const { transfers } = await ctx.client.transferBatch({ idempotencyKey: key("b"), legs: [{ debitAccountId: a.id, creditAccountId: b.id, amount: 7n, memo: "two" }] });
    expect([transfer!.debitBalanceAfter, transfer!.creditBalanceAfter, transfer!.debitAccountVersion, transfer!.creditAccountVersion]).toEqual([93n, 7n, 2n, 1n]);
    expect([transfers[0]!.debitBalanceAfter, transfers[0]!.creditBalanceAfter, transfers[0]!.debitAccountVersion, transfers[0]!.creditAccountVersion]).toEqual([86n, 14n, 3n, 2n]);
    const { rows } = await ctx.server.database.sql<{ n: number }>("SELECT count(*)::int AS n FROM entries WHERE transfer_id = ANY($1)", [[transfer!.id, transfers[0]!.id]]);
    expect(rows[0]!.n).toBe(4);
  });
});
