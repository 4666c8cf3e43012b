/** Transfer, TransferBatch, ReverseTransfer and the journal reads, through a gRPC client against real PostgreSQL. */
import { Code } from "@connectrpc/connect";
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { TransferKind, type Entry } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import {
  balanceOf,

  expectFailure,
  fundedAccount,
  issuance,
  key,
  useLedgerServer,
  userAccount,
  
} from "../support/ledger.js";
import { databaseClockPast } from "../support/db-clock.js";
import { shiftNanos } from "../support/timestamps.js";

const INT64_MAX = 9_223_372_036_854_775_807n;

const ctx = useLedgerServer();

async function countRows(table: "transfers" | "entries" | "idempotency_keys"): Promise<number> {
  const { rows } = await ctx.server.database.sql<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return rows[0]!.n;
}

describe("Transfer", () => {
  it("moves money atomically and replies with both balances after it", async () => {
    const a = await fundedAccount(ctx.client, 1_000n);
    const b = await userAccount(ctx.client);
    const res = await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 250n, memo: "rent" });
    expect(res.transfer).toMatchObject({
      kind: TransferKind.TRANSFER,
      debitAccountId: a.id,
      creditAccountId: b.id,
      currency: "USD",
      amount: 250n,
      memo: "rent",
      debitBalanceAfter: 750n,
      creditBalanceAfter: 250n,
      debitAccountVersion: 2n,
      creditAccountVersion: 1n,
    });
    expect((await balanceOf(ctx.client, a.id)).posted).toBe(750n);
    expect((await balanceOf(ctx.client, b.id)).available).toBe(250n);
  });

  it("refuses an overdraft, and changes nothing", async () => {
    const a = await fundedAccount(ctx.client, 100n);
    const b = await userAccount(ctx.client);
    const before = await countRows("transfers");
    await expectFailure(
      ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 101n }),
      Code.FailedPrecondition,
      "INSUFFICIENT_FUNDS",
      "amount",
    );
    expect(await countRows("transfers")).toBe(before);
    expect((await balanceOf(ctx.client, a.id)).posted).toBe(100n);
  });

  it("lets an account with an overdraft limit go negative down to the limit", async () => {
    const a = await userAccount(ctx.client, { allowNegative: true, overdraftLimit: 500n });
    const b = await userAccount(ctx.client);
    await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 500n });
    expect((await balanceOf(ctx.client, a.id)).posted).toBe(-500n);
    await expectFailure(
      ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 1n }),
      Code.FailedPrecondition,
      "INSUFFICIENT_FUNDS",
    );
  });

  it.each([
    ["zero", 0n],
    ["minus one", -1n],
  ])("rejects a %s amount with INVALID_ARGUMENT naming the field, writing nothing", async (_name, amount) => {
    const a = await fundedAccount(ctx.client, 10n);
    const b = await userAccount(ctx.client);
    const before = [await countRows("transfers"), await countRows("idempotency_keys")];
    const error = await expectFailure(
      ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount }),
      Code.InvalidArgument,
      "INVALID_ARGUMENT",
      "amount",
    );
    expect(error.rawMessage).toMatch(/^amount: /);
    expect([await countRows("transfers"), await countRows("idempotency_keys")]).toEqual(before);
  });

  it("gives OUT_OF_RANGE when a balance would overflow int64, and writes nothing", async () => {
    const issuer = await issuance(ctx.client, "EUR");
    const rich = await userAccount(ctx.client, { currency: "EUR" });
    // int64 max is fine on its own…
    await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: issuer, creditAccountId: rich.id, amount: INT64_MAX });
    expect((await balanceOf(ctx.client, rich.id)).posted).toBe(INT64_MAX);
    const before = await countRows("transfers");
    // …but one more unit overflows the credit side…
    await expectFailure(
      ctx.client.transfer({ idempotencyKey: key(), debitAccountId: issuer, creditAccountId: rich.id, amount: 1n }),
      Code.OutOfRange,
      "AMOUNT_OVERFLOW",
    );
    // …and the issuer (at -int64 max) cannot go below int64 min either.
    const other = await userAccount(ctx.client, { currency: "EUR" });
    await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: issuer, creditAccountId: other.id, amount: 1n });
    await expectFailure(
      ctx.client.transfer({ idempotencyKey: key(), debitAccountId: issuer, creditAccountId: other.id, amount: 1n }),
      Code.OutOfRange,
      "AMOUNT_OVERFLOW",
    );
    expect(await countRows("transfers")).toBe(before + 1);
    // Put the books back so that the EUR total stays representable for other tests.
    await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: rich.id, creditAccountId: issuer, amount: INT64_MAX });
    await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: other.id, creditAccountId: issuer, amount: 1n });
  });

  it("rejects the same account on both sides, a missing account, and a currency mismatch", async () => {
    const a = await fundedAccount(ctx.client, 10n);
    await expectFailure(
      ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: a.id, amount: 1n }),
      Code.InvalidArgument,
      "INVALID_ARGUMENT",
      "credit_account_id",
    );
    await expectFailure(
      ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: "0190a0a0-0000-7000-8000-00000000dead", amount: 1n }),
      Code.NotFound,
      "NOT_FOUND",
      "credit_account_id",
    );
    await expectFailure(
      ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: "not-a-uuid", amount: 1n }),
      Code.InvalidArgument,
      "INVALID_ARGUMENT",
      "credit_account_id",
    );
    const euro = await userAccount(ctx.client, { currency: "EUR" });
    await expectFailure(
      ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: euro.id, amount: 1n }),
      Code.FailedPrecondition,
      "CURRENCY_MISMATCH",
    );
    const b = await userAccount(ctx.client);
    await expectFailure(
      ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 1n, currency: "EUR" }),
      Code.FailedPrecondition,
      "CURRENCY_MISMATCH",
      "currency",
    );
    await expectFailure(
      ctx.client.transfer({ idempotencyKey: "", debitAccountId: a.id, creditAccountId: b.id, amount: 1n }),
      Code.InvalidArgument,
      "INVALID_ARGUMENT",
      "idempotency_key",
    );
  });

  it("replays a retried request with the same reply and rejects the key with another request", async () => {
    const a = await fundedAccount(ctx.client, 100n);
    const b = await userAccount(ctx.client);
    const request = { idempotencyKey: key("retry"), debitAccountId: a.id, creditAccountId: b.id, amount: 10n };
    const first = await ctx.client.transfer(request);
    const again = await ctx.client.transfer(request);
    expect(again).toEqual(first);
    expect((await balanceOf(ctx.client, a.id)).posted).toBe(90n);
    const error = await expectFailure(ctx.client.transfer({ ...request, amount: 11n }), Code.AlreadyExists, "IDEMPOTENCY_KEY_REUSED", "idempotency_key");
    expect(error.rawMessage).toMatch(/different request/);
  });

  it("keeps a transfer's key for ever, even after the key's reply is purged", async () => {
    const a = await fundedAccount(ctx.client, 100n);
    const b = await userAccount(ctx.client);
    const request = { idempotencyKey: key("old"), debitAccountId: a.id, creditAccountId: b.id, amount: 10n };
    await ctx.client.transfer(request);
    await ctx.server.database.sql("DELETE FROM idempotency_keys WHERE key = $1", [request.idempotencyKey]);
    await expectFailure(ctx.client.transfer(request), Code.AlreadyExists, "IDEMPOTENCY_KEY_REUSED", "idempotency_key");
    expect((await balanceOf(ctx.client, a.id)).posted).toBe(90n);
  });

  it("is found by id and by idempotency key", async () => {
    const a = await fundedAccount(ctx.client, 100n);
    const b = await userAccount(ctx.client);
    const k = key("lookup");
    const { transfer } = await ctx.client.transfer({ idempotencyKey: k, debitAccountId: a.id, creditAccountId: b.id, amount: 7n });
    expect((await ctx.client.getTransfer({ lookup: { case: "transferId", value: transfer!.id } })).transfer).toEqual(transfer);
    expect((await ctx.client.getTransfer({ lookup: { case: "idempotencyKey", value: k } })).transfer).toEqual(transfer);
    await expectFailure(ctx.client.getTransfer({ lookup: { case: "idempotencyKey", value: "nope" } }), Code.NotFound, "NOT_FOUND");
  });
});

describe("TransferBatch", () => {
  it("applies a payment and its fee as one", async () => {
    const payer = await fundedAccount(ctx.client, 1_000n);
    const payee = await userAccount(ctx.client);
    const fees = await userAccount(ctx.client);
    const res = await ctx.client.transferBatch({
      idempotencyKey: key("batch"),
      legs: [
        { debitAccountId: payer.id, creditAccountId: payee.id, amount: 900n },
        { debitAccountId: payer.id, creditAccountId: fees.id, amount: 100n },
      ],
    });
    expect(res.transfers.map((t) => [t.amount, t.debitBalanceAfter, t.batchId])).toEqual([
      [900n, 100n, res.batchId],
      [100n, 0n, res.batchId],
    ]);
    expect((await balanceOf(ctx.client, payer.id)).posted).toBe(0n);
  });

  it("applies nothing when one leg fails, and names the failing leg", async () => {
    const payer = await fundedAccount(ctx.client, 1_000n);
    const payee = await userAccount(ctx.client);
    const fees = await userAccount(ctx.client);
    const before = await countRows("transfers");
    const error = await expectFailure(
      ctx.client.transferBatch({
        idempotencyKey: key("batch"),
        legs: [
          { debitAccountId: payer.id, creditAccountId: payee.id, amount: 900n },
          { debitAccountId: payer.id, creditAccountId: fees.id, amount: 101n },
        ],
      }),
      Code.FailedPrecondition,
      "INSUFFICIENT_FUNDS",
      "legs[1].amount",
    );
    expect(error.rawMessage).toMatch(/^legs\[1\]: /);
    expect(await countRows("transfers")).toBe(before);
    expect((await balanceOf(ctx.client, payer.id)).posted).toBe(1_000n);
    await expectFailure(
      ctx.client.transferBatch({ idempotencyKey: key("batch"), legs: [{ debitAccountId: payer.id, creditAccountId: fees.id, amount: 1n }, { debitAccountId: payer.id, creditAccountId: fees.id, amount: 0n }] }),
      Code.InvalidArgument,
      "INVALID_ARGUMENT",
      "legs[1].amount",
    );
    await expectFailure(ctx.client.transferBatch({ idempotencyKey: key("batch"), legs: [] }), Code.InvalidArgument, "INVALID_ARGUMENT", "legs");
  });
});

describe("ReverseTransfer", () => {
  it("compensates partially, links to the original, and never beyond its amount", async () => {
    const a = await fundedAccount(ctx.client, 100n);
    const b = await userAccount(ctx.client);
    const { transfer } = await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 60n });
    const first = await ctx.client.reverseTransfer({ idempotencyKey: key("rev"), transferId: transfer!.id, amount: 20n });
    expect(first.reversal).toMatchObject({ kind: TransferKind.REVERSAL, debitAccountId: b.id, creditAccountId: a.id, amount: 20n, reversesTransferId: transfer!.id });
    expect(first.original?.reversedAmount).toBe(20n);
    const rest = await ctx.client.reverseTransfer({ idempotencyKey: key("rev"), transferId: transfer!.id, amount: 0n });
    expect(rest.reversal?.amount).toBe(40n);
    expect(rest.original?.reversedAmount).toBe(60n);
    await expectFailure(
      ctx.client.reverseTransfer({ idempotencyKey: key("rev"), transferId: transfer!.id, amount: 1n }),
      Code.FailedPrecondition,
      "REVERSAL_EXCEEDS_TRANSFER",
    );
    expect((await balanceOf(ctx.client, a.id)).posted).toBe(100n);
    expect((await balanceOf(ctx.client, b.id)).posted).toBe(0n);
  });
});

describe("journal reads", () => {
  it("lists an account's transfers and entries newest first, paginated and time-filtered", async () => {
    const a = await fundedAccount(ctx.client, 1_000n);
    const b = await userAccount(ctx.client);
    const ids: string[] = [];
    let third: Timestamp | undefined;
    for (let i = 1; i <= 7; i++) {
      // Version 4 is stamped strictly after version 3, so the time filters below split the journal there.
      if (i === 4) await databaseClockPast(ctx.server.database, timestampDate(third!).getTime());
      const { transfer } = await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: BigInt(i) });
      ids.push(transfer!.id);
      if (i === 3) third = transfer!.createTime;
    }
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await ctx.client.listTransfers({ accountId: b.id, pageSize: 3, pageToken });
      expect(page.transfers.length).toBeLessThanOrEqual(3);
      seen.push(...page.transfers.map((t) => t.id));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen).toEqual([...ids].reverse());

    const entries = await ctx.client.listEntries({ accountId: b.id, pageSize: 100 });
    expect(entries.entries.map((e) => e.accountVersion)).toEqual([7n, 6n, 5n, 4n, 3n, 2n, 1n]);
    expect(entries.entries[0]!.balanceAfter).toBe(28n);

    const cut = entries.entries[3]!.createTime!; // version 4
    const versions = (page: { entries: { accountVersion: bigint }[] }) => page.entries.map((e) => e.accountVersion);
    // The start is inclusive, the end exclusive: each side gets exactly its part.
    expect(versions(await ctx.client.listEntries({ accountId: b.id, startTime: cut, pageSize: 100 }))).toEqual([7n, 6n, 5n, 4n]);
    expect(versions(await ctx.client.listEntries({ accountId: b.id, endTime: cut, pageSize: 100 }))).toEqual([3n, 2n, 1n]);
    const before = await ctx.client.listEntries({ accountId: b.id, endTime: timestampFromDate(new Date(0)) });
    expect(before.entries).toEqual([]);

    const firstPage = await ctx.client.listEntries({ accountId: b.id, pageSize: 2 });
    await expectFailure(
      ctx.client.listEntries({ accountId: a.id, pageSize: 2, pageToken: firstPage.nextPageToken }),
      Code.InvalidArgument,
      "INVALID_ARGUMENT",
      "page_token",
    );
    await expectFailure(ctx.client.listEntries({ accountId: b.id, pageSize: 501 }), Code.InvalidArgument, "INVALID_ARGUMENT", "page_size");
  });

  it("pages of a time range list each of its entries once, newest first, whatever the page size; batches' entries share a time", async () => {
    const a = await fundedAccount(ctx.client, 10_000n);
    const b = await userAccount(ctx.client);
    const pause = () => new Promise((r) => setTimeout(r, 5));
    // Runs of entries with one time each (a batch is one transaction), and single ones between.
    for (let round = 0; round < 3; round++) {
      const legs = Array.from({ length: 4 }, (_, i) => ({ debitAccountId: a.id, creditAccountId: b.id, amount: BigInt(round * 10 + i + 1) }));
      await ctx.client.transferBatch({ idempotencyKey: key(), legs });
      await pause();
      for (let i = 0; i < 2; i++) {
        await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 1n });
        await pause();
      }
    }
    const all = (await ctx.client.listEntries({ accountId: b.id, pageSize: 500 })).entries;
    expect(all.map((e) => e.accountVersion)).toEqual(Array.from({ length: 18 }, (_, i) => BigInt(18 - i)));
    const ms = (t: Timestamp | undefined) => timestampDate(t!).getTime();
    // The first batch's entries (versions 1–4) share one time, as do the second's (7–10).
    expect(new Set(all.slice(14).map((e) => ms(e.createTime))).size).toBe(1);
    const byVersion = (v: number) => all.find((e) => e.accountVersion === BigInt(v))!;
    const pages = async (range: { startTime?: Timestamp; endTime?: Timestamp }, pageSize: number) => {
      const seen: Entry[] = [];
      let pageToken = "";
      do {
        const page = await ctx.client.listEntries({ accountId: b.id, pageSize, pageToken, ...range });
        expect(page.entries.length).toBeLessThanOrEqual(pageSize);
        seen.push(...page.entries);
        pageToken = page.nextPageToken;
      } while (pageToken);
      return seen.map((e) => e.accountVersion);
    };
    const within = (start?: number, end?: number) =>
      all.filter((e) => (start === undefined || ms(e.createTime) >= start) && (end === undefined || ms(e.createTime) < end)).map((e) => e.accountVersion);
    // Bounds on a batch's shared time: the start takes the whole batch in, the end leaves it out.
    const start = byVersion(7).createTime!;
    const end = byVersion(13).createTime!;
    for (const range of [{ startTime: start, endTime: end }, { startTime: start }, { endTime: end }]) {
      const expected = within(range.startTime && ms(range.startTime), range.endTime && ms(range.endTime));
      expect(expected.length).toBeGreaterThan(4);
      for (const pageSize of [1, 2, 3, 5]) expect(await pages(range, pageSize), `page size ${pageSize}`).toEqual(expected);
    }
    expect(within(ms(start), ms(end))).toEqual([12n, 11n, 10n, 9n, 8n, 7n]);

    // A token issued before tokens carried the entry's version (the cursor alone) continues the same way.
    const first = await ctx.client.listEntries({ accountId: b.id, pageSize: 2, startTime: start, endTime: end });
    const fields = JSON.parse(Buffer.from(first.nextPageToken, "base64url").toString("utf8")) as Record<string, string>;
    expect(Object.keys(fields).sort()).toEqual(["c", "f", "h"]);
    const withoutVersion = Buffer.from(JSON.stringify({ c: fields.c, f: fields.f })).toString("base64url");
    const next = await ctx.client.listEntries({ accountId: b.id, pageSize: 2, startTime: start, endTime: end, pageToken: first.nextPageToken });
    const nextWithout = await ctx.client.listEntries({ accountId: b.id, pageSize: 2, startTime: start, endTime: end, pageToken: withoutVersion });
    expect(nextWithout).toEqual(next);
    expect(next.entries.map((e) => e.accountVersion)).toEqual([10n, 9n]);
    await expectFailure(
      ctx.client.listEntries({ accountId: b.id, pageSize: 2, startTime: start, endTime: end, pageToken: Buffer.from(JSON.stringify({ ...fields, h: "x" })).toString("base64url") }),
      Code.InvalidArgument,
      "INVALID_ARGUMENT",
      "page_token",
    );

    // As of a batch's time: after its last entry.
    const atBatch = await ctx.client.getBalance({ accountId: b.id, asOf: { case: "asOfTime", value: byVersion(7).createTime! } });
    expect(atBatch.position).toBe(byVersion(10).position);
    expect(atBatch.balance?.posted).toBe(byVersion(10).balanceAfter);
    const beforeBatch = await ctx.client.getBalance({ accountId: b.id, asOf: { case: "asOfTime", value: timestampFromDate(new Date(ms(byVersion(7).createTime) - 1)) } });
    expect(beforeBatch.balance?.posted).toBe(byVersion(6).balanceAfter);

    // Nanoseconds count: 1 ns before the batch is before it; a range starting 1 ns after it leaves it out, one ending 1 ns after it keeps it.
    const t7 = byVersion(7).createTime!;
    const justBefore = await ctx.client.getBalance({ accountId: b.id, asOf: { case: "asOfTime", value: shiftNanos(t7, -1) } });
    expect(justBefore.balance?.posted).toBe(byVersion(6).balanceAfter);
    const versionsIn = async (range: { startTime?: Timestamp; endTime?: Timestamp }) =>
      (await ctx.client.listEntries({ accountId: b.id, pageSize: 100, ...range })).entries.map((e) => e.accountVersion);
    expect(await versionsIn({ startTime: shiftNanos(t7, 1) })).not.toContain(7n);
    expect(await versionsIn({ endTime: shiftNanos(t7, 1) })).toContain(7n);
    const transfersFrom = await ctx.client.listTransfers({ accountId: b.id, startTime: shiftNanos(t7, 1), pageSize: 100 });
    expect(transfersFrom.transfers.some((t) => t.createTime && ms(t.createTime) <= ms(t7))).toBe(false);
  });

  it("pages of a time range stay stable while entries are being added", async () => {
    const a = await fundedAccount(ctx.client, 10_000n);
    const b = await userAccount(ctx.client);
    for (let i = 0; i < 12; i++) await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 1n });
    const existing = (await ctx.client.listEntries({ accountId: b.id, pageSize: 500 })).entries.map((e) => e.position);
    const range = { startTime: timestampFromDate(new Date(Date.now() - 60_000)), endTime: timestampFromDate(new Date(Date.now() + 3_600_000)) };
    let adding = true;
    let added = 0;
    const writer = (async () => {
      while (adding) {
        await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 1n });
        added += 1;
      }
    })();
    const seen: bigint[] = [];
    let pageToken = "";
    try {
      do {
        const page = await ctx.client.listEntries({ accountId: b.id, pageSize: 2, pageToken, ...range });
        seen.push(...page.entries.map((e) => e.position));
        pageToken = page.nextPageToken;
        await new Promise((r) => setTimeout(r, 5));
      } while (pageToken);
    } finally {
      adding = false;
      await writer;
    }
    expect(added).toBeGreaterThan(0);
    expect(new Set(seen).size).toBe(seen.length);
    expect(existing.filter((p) => !seen.includes(p))).toEqual([]);
    expect([...seen].sort((x, y) => (x < y ? 1 : -1))).toEqual(seen);
  });

  it("answers the balance as of a journal position and as of a time", async () => {
    const a = await fundedAccount(ctx.client, 1_000n);
    const b = await userAccount(ctx.client);
    const { transfer: first } = await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 100n });
    const mid = await ctx.client.getBalance({ accountId: b.id });
    // A moment strictly between the two transfers, on the clock that stamps them (the database's).
    const midTime = new Date(await databaseClockPast(ctx.server.database, timestampDate(first!.createTime!).getTime()));
    await databaseClockPast(ctx.server.database, midTime.getTime());
    await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 50n });
    expect((await balanceOf(ctx.client, b.id)).posted).toBe(150n);
    const atPosition = await ctx.client.getBalance({ accountId: b.id, asOf: { case: "asOfPosition", value: mid.position } });
    expect(atPosition.balance?.posted).toBe(100n);
    const atTime = await ctx.client.getBalance({ accountId: b.id, asOf: { case: "asOfTime", value: timestampFromDate(midTime) } });
    expect(atTime.balance?.posted).toBe(100n);
    const atStart = await ctx.client.getBalance({ accountId: b.id, asOf: { case: "asOfPosition", value: 0n } });
    expect(atStart.balance?.posted).toBe(0n);
  });
});
