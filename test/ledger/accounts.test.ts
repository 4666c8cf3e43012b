/** Accounts: create (idempotent), get, list with filters and cursors, freeze, unfreeze, close. */
import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { AccountStatus, SystemAccount } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { balanceOf, expectFailure, fundedAccount, identityClient, issuance, key, newUserId, useLedgerServer, userAccount } from "../support/ledger.js";

const ctx = useLedgerServer();

const user = (id: string) => ({ owner: { case: "userId" as const, value: id } });
const ownerOf = (account: { owner?: { owner: { case: string | undefined; value?: unknown } } }) => account.owner!.owner.value as string;

describe("accounts", () => {
  it("creates once per key; the same key with another request is rejected", async () => {
    const request = { idempotencyKey: key("open"), owner: user(await newUserId(ctx.client)), currency: "USD", label: "savings" };
    const first = await ctx.client.createAccount(request);
    expect(first.account).toMatchObject({ currency: "USD", label: "savings", status: AccountStatus.ACTIVE, version: 0n, policy: { allowNegative: false } });
    expect(await ctx.client.createAccount(request)).toEqual(first);
    await expectFailure(ctx.client.createAccount({ ...request, label: "other" }), Code.AlreadyExists, "IDEMPOTENCY_KEY_REUSED");
    expect((await ctx.client.getAccount({ accountId: first.account!.id })).account).toEqual(first.account);
  });

  it("validates owner, currency and policy with field-named errors", async () => {
    await expectFailure(ctx.client.createAccount({ idempotencyKey: key(), currency: "USD" }), Code.InvalidArgument, "INVALID_ARGUMENT", "owner");
    await expectFailure(ctx.client.createAccount({ idempotencyKey: key(), owner: user("bob"), currency: "USD" }), Code.InvalidArgument, "INVALID_ARGUMENT", "owner.user_id");
    const owner = user(await newUserId(ctx.client));
    await expectFailure(ctx.client.createAccount({ idempotencyKey: key(), owner, currency: "usd" }), Code.InvalidArgument, "INVALID_ARGUMENT", "currency");
    await expectFailure(ctx.client.createAccount({ idempotencyKey: key(), owner, currency: "XYZ" }), Code.NotFound, "NOT_FOUND", "currency");
    // The owner must be a registered user.
    await expectFailure(ctx.client.createAccount({ idempotencyKey: key(), owner: user(randomUUID()), currency: "USD" }), Code.NotFound, "NOT_FOUND", "owner.user_id");
    await expectFailure(
      ctx.client.createAccount({ idempotencyKey: key(), owner, currency: "USD", policy: { allowNegative: true, overdraftLimit: -5n } }),
      Code.InvalidArgument,
      "INVALID_ARGUMENT",
      "policy.overdraft_limit",
    );
  });

  it("allows one default wallet per user and currency", async () => {
    const owner = user(await newUserId(ctx.client));
    // Registration opened the AEV wallet already.
    await expectFailure(ctx.client.createAccount({ idempotencyKey: key(), owner, currency: "AEV", isDefault: true }), Code.AlreadyExists, "ALREADY_EXISTS", "is_default");
    await ctx.client.createAccount({ idempotencyKey: key(), owner, currency: "USD", isDefault: true });
    await expectFailure(ctx.client.createAccount({ idempotencyKey: key(), owner, currency: "USD", isDefault: true }), Code.AlreadyExists, "ALREADY_EXISTS", "is_default");
  });

  it("lists by owner, currency and status with a stable cursor", async () => {
    const id = await newUserId(ctx.client);
    const made = [(await ctx.client.listAccounts({ owner: user(id) })).accounts[0]!.id]; // the AEV wallet
    for (let i = 1; i < 6; i++) made.push((await userAccount(ctx.client, { userId: id, currency: i % 2 ? "EUR" : "USD" })).id);
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await ctx.client.listAccounts({ owner: user(id), pageSize: 2, pageToken });
      seen.push(...page.accounts.map((a) => a.id));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen).toEqual(made);
    expect((await ctx.client.listAccounts({ owner: user(id), currency: "EUR" })).accounts.map((a) => a.id)).toEqual([made[1], made[3], made[5]]);
    const systemUsd = await ctx.client.listAccounts({ owner: { owner: { case: "system", value: SystemAccount.FEES } }, currency: "USD" });
    expect(systemUsd.accounts.length).toBe(1);
    await ctx.client.freezeAccount({ idempotencyKey: key(), accountId: made[0]! });
    expect((await ctx.client.listAccounts({ owner: user(id), status: AccountStatus.FROZEN })).accounts.map((a) => a.id)).toEqual([made[0]]);
  });

  it("lists by currency alone (and status) in id order across statuses, each account once, in pages", async () => {
    const id = await newUserId(ctx.client);
    const made: string[] = [];
    for (let i = 0; i < 9; i++) made.push((await userAccount(ctx.client, { userId: id, currency: "EUR" })).id);
    for (const i of [1, 4, 7]) await ctx.client.freezeAccount({ idempotencyKey: key(), accountId: made[i]! });
    for (const i of [2, 5]) await ctx.client.closeAccount({ idempotencyKey: key(), accountId: made[i]! });
    const all = (await ctx.client.listAccounts({ currency: "EUR", pageSize: 500 })).accounts;
    expect(all.every((a) => a.currency === "EUR")).toBe(true);
    expect(all.map((a) => a.id)).toEqual(all.map((a) => a.id).sort());
    expect(made.filter((m) => !all.some((a) => a.id === m))).toEqual([]);
    for (const pageSize of [1, 2, 4]) {
      const seen: string[] = [];
      let pageToken = "";
      do {
        const page = await ctx.client.listAccounts({ currency: "EUR", pageSize, pageToken });
        expect(page.accounts.length).toBeLessThanOrEqual(pageSize);
        seen.push(...page.accounts.map((a) => a.id));
        pageToken = page.nextPageToken;
      } while (pageToken);
      expect(seen, `page size ${pageSize}`).toEqual(all.map((a) => a.id));
    }
    const frozen = await ctx.client.listAccounts({ currency: "EUR", status: AccountStatus.FROZEN, pageSize: 2 });
    expect(frozen.accounts.every((a) => a.status === AccountStatus.FROZEN)).toBe(true);
    expect(frozen.nextPageToken).not.toBe("");
    const allFrozen = (await ctx.client.listAccounts({ currency: "EUR", status: AccountStatus.FROZEN, pageSize: 500 })).accounts.map((a) => a.id);
    expect(allFrozen).toEqual(all.filter((a) => a.status === AccountStatus.FROZEN).map((a) => a.id));
    expect(allFrozen).toEqual(expect.arrayContaining([made[1], made[4], made[7]]));
    const closed = (await ctx.client.listAccounts({ currency: "EUR", status: AccountStatus.CLOSED, pageSize: 500 })).accounts.map((a) => a.id);
    expect(closed).toEqual(all.filter((a) => a.status === AccountStatus.CLOSED).map((a) => a.id));
    expect(closed).toEqual(expect.arrayContaining([made[2], made[5]]));
    await expectFailure(ctx.client.listAccounts({ currency: "USD", pageToken: frozen.nextPageToken }), Code.InvalidArgument, "INVALID_ARGUMENT", "page_token");
  });

  it("freezes (no sending, no receiving), unfreezes, and closes only when empty", async () => {
    const a = await fundedAccount(ctx.client, 100n);
    const b = await userAccount(ctx.client);
    const frozen = await ctx.client.freezeAccount({ idempotencyKey: key(), accountId: a.id, reason: "fraud review" });
    expect(frozen.account?.status).toBe(AccountStatus.FROZEN);
    await expectFailure(ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 1n }), Code.FailedPrecondition, "ACCOUNT_FROZEN", "debit_account_id");
    await expectFailure(ctx.client.transfer({ idempotencyKey: key(), debitAccountId: b.id, creditAccountId: a.id, amount: 1n }), Code.FailedPrecondition, "ACCOUNT_FROZEN", "credit_account_id");
    await expectFailure(ctx.client.closeAccount({ idempotencyKey: key(), accountId: a.id }), Code.FailedPrecondition, "ACCOUNT_NOT_EMPTY");
    await ctx.client.unfreezeAccount({ idempotencyKey: key(), accountId: a.id });
    await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: await issuance(ctx.client), amount: 100n });
    const closed = await ctx.client.closeAccount({ idempotencyKey: key(), accountId: a.id });
    expect(closed.account?.status).toBe(AccountStatus.CLOSED);
    await expectFailure(ctx.client.freezeAccount({ idempotencyKey: key(), accountId: a.id }), Code.FailedPrecondition, "ACCOUNT_CLOSED");
    await expectFailure(ctx.client.transfer({ idempotencyKey: key(), debitAccountId: b.id, creditAccountId: a.id, amount: 1n }), Code.FailedPrecondition, "ACCOUNT_CLOSED");
    expect((await balanceOf(ctx.client, a.id)).posted).toBe(0n);
  });

  it("lets a reversal claw back funds from a frozen account", async () => {
    const a = await fundedAccount(ctx.client, 100n);
    const b = await userAccount(ctx.client);
    const { transfer } = await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 60n });
    await ctx.client.freezeAccount({ idempotencyKey: key(), accountId: b.id });
    await ctx.client.reverseTransfer({ idempotencyKey: key(), transferId: transfer!.id });
    expect((await balanceOf(ctx.client, b.id)).posted).toBe(0n);
  });

  it("lets a reversal claw back from a suspended owner's account, never from or into a deleted owner's", async () => {
    const identity = identityClient(ctx.client);
    const a = await fundedAccount(ctx.client, 100n);
    const [suspended, deleted, deletedSender] = [await userAccount(ctx.client), await userAccount(ctx.client), await fundedAccount(ctx.client, 50n)];
    const pay = async (to: string, amount: bigint, from = a.id) =>
      (await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: from, creditAccountId: to, amount })).transfer!.id;
    const [toSuspended, toDeleted, fromDeleted] = [await pay(suspended.id, 30n), await pay(deleted.id, 20n), await pay(a.id, 10n, deletedSender.id)];
    await identity.suspendUser({ idempotencyKey: key(), userId: ownerOf(suspended), reason: "fraud review" });
    await ctx.client.reverseTransfer({ idempotencyKey: key(), transferId: toSuspended });
    expect((await balanceOf(ctx.client, suspended.id)).posted).toBe(0n);

    for (const account of [deleted, deletedSender]) await identity.deleteUser({ idempotencyKey: key(), userId: ownerOf(account) });
    await expectFailure(ctx.client.reverseTransfer({ idempotencyKey: key(), transferId: toDeleted }), Code.FailedPrecondition, "USER_DELETED");
    await expectFailure(ctx.client.reverseTransfer({ idempotencyKey: key(), transferId: fromDeleted }), Code.FailedPrecondition, "USER_DELETED");
    expect((await balanceOf(ctx.client, deleted.id)).posted).toBe(20n);
    expect((await balanceOf(ctx.client, deletedSender.id)).posted).toBe(40n);
  });

  it("answers concurrent balance and account reads each with its own account (they share statements), and NOT_FOUND among them", async () => {
    const accounts = [];
    for (let i = 1; i <= 8; i++) accounts.push(await fundedAccount(ctx.client, BigInt(i * 100), i % 2 ? "USD" : "EUR"));
    const missing = [randomUUID(), randomUUID()];
    const calls = [];
    for (let round = 0; round < 4; round++) {
      for (const account of accounts) {
        calls.push(ctx.client.getBalance({ accountId: account.id }).then((r) => [account.id, r.accountId, r.balance!.posted, r.currency] as const));
        calls.push(ctx.client.getAccount({ accountId: account.id }).then((r) => [account.id, r.account!.id, r.account!.balance!.posted, r.account!.currency] as const));
      }
      for (const id of missing) calls.push(expectFailure(ctx.client.getBalance({ accountId: id }), Code.NotFound, "NOT_FOUND", "account_id").then(() => [id, id, -1n, ""] as const));
    }
    const answers = await Promise.all(calls);
    for (const [asked, answered, posted, currency] of answers) {
      expect(answered).toBe(asked);
      const index = accounts.findIndex((a) => a.id === asked);
      if (index < 0) continue;
      expect(posted).toBe(BigInt((index + 1) * 100));
      expect(currency).toBe(index % 2 ? "EUR" : "USD");
    }
    expect(answers.length).toBe(4 * (8 * 2 + 2));
  });

  it("answers NOT_FOUND and INVALID_ARGUMENT on reads", async () => {
    await expectFailure(ctx.client.getAccount({ accountId: randomUUID() }), Code.NotFound, "NOT_FOUND", "account_id");
    await expectFailure(ctx.client.getAccount({ accountId: "x" }), Code.InvalidArgument, "INVALID_ARGUMENT", "account_id");
    await expectFailure(ctx.client.getBalance({ accountId: randomUUID() }), Code.NotFound, "NOT_FOUND", "account_id");
  });
});
