/**
 * The caching policy as Accelerate sees it: the service runs on the
 * Accelerate path (Prisma Client → query-plan executor over HTTP →
 * PostgreSQL), and the executor fixture (which caches as Accelerate does)
 * records the `cache-control` and `accelerate-cache-tags` headers of every
 * query and the tags of every `POST /invalidate`. Each read is matched by the model and operation in its
 * request body.
 */
import { randomUUID } from "node:crypto";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { beforeEach, describe, expect, it } from "vitest";
import { ReadConsistency } from "../../src/gen/aevon/type/v1/read_consistency_pb.js";
import { encodePageToken } from "../../src/domain/pagination.js";
import { MAX_TAGS_PER_CALL } from "../../src/store/cache-policy.js";
import type { RecordedQuery } from "../support/accelerate.js";
import { expectFailure, fundedAccount, identityClient, issuance, key, useLedgerServer } from "../support/ledger.js";

// Background jobs (hold expiry, audit sealer, health) would add their own queries: keep them out of the way.
const ctx = useLedgerServer({ HOLD_EXPIRY_INTERVAL_MS: "600000", AUDIT_SEAL_INTERVAL_MS: "60000", HEALTH_CHECK_INTERVAL_MS: "600000" }, "accelerate");
const identity = () => identityClient(ctx.client);
const executor = () => ctx.server.executor!;
const EVENTUAL = ReadConsistency.EVENTUAL;

const handle = (prefix = "c") => `${prefix}${randomUUID().replaceAll("-", "").slice(0, 16)}`;
const compact = (id: string) => id.replaceAll("-", "");

/** The model reads recorded since the last reset, as `Model.operation`, with their directives. */
function reads(): { read: string; cacheControl: string | null; tags: string[] }[] {
  return executor().requests.flatMap((r: RecordedQuery) => {
    // Cacheable reads travel outside transactions (POST /query); transaction steps never carry a cache directive.
    if (r.path !== "/query" || !r.body.startsWith("{")) return [];
    const body = JSON.parse(r.body) as { model?: string; operation?: string };
    return body.model ? [{ read: `${body.model}.${body.operation}`, cacheControl: r.cacheControl, tags: r.tags }] : [];
  });
}

/** Every tag invalidated since the last reset. */
const invalidated = () => new Set(executor().invalidations.flat());

beforeEach(() => executor().reset());

describe("reads carry the policy's cache directives", () => {
  it("a user by id, handle and external identity: cached under its tags only when EVENTUAL", async () => {
    const h = handle();
    const external = { provider: "https://id.example.com", subject: randomUUID() };
    const { user } = await identity().createUser({ idempotencyKey: key(), handle: h, externalIdentity: external });
    const id = user!.id;

    executor().reset();
    await identity().getUser({ lookup: { case: "userId", value: id } });
    expect(reads()).toEqual([{ read: "User.findUnique", cacheControl: "no-cache", tags: [] }]);

    executor().reset();
    await identity().getUser({ lookup: { case: "userId", value: id }, consistency: EVENTUAL });
    expect(reads()).toEqual([{ read: "User.findUnique", cacheControl: "max-age=60,stale-while-revalidate=60", tags: [`user_${compact(id)}`] }]);

    executor().reset();
    await identity().getUser({ lookup: { case: "handle", value: h.toUpperCase() }, consistency: EVENTUAL });
    expect(reads()).toEqual([{ read: "User.findUnique", cacheControl: "max-age=60,stale-while-revalidate=60", tags: [`handle_${h}`] }]);

    executor().reset();
    await identity().getUser({ lookup: { case: "externalIdentity", value: external }, consistency: EVENTUAL });
    const [link, profile, ...rest] = reads();
    expect(rest).toEqual([]);
    expect(link).toMatchObject({ read: "ExternalIdentity.findUnique", cacheControl: "max-age=60,stale-while-revalidate=60" });
    expect(link!.tags).toHaveLength(1);
    expect(link!.tags[0]).toMatch(/^extid_[0-9a-f]{40}$/);
    expect(profile).toEqual({ read: "User.findUnique", cacheControl: "max-age=60,stale-while-revalidate=60", tags: [`user_${compact(id)}`] });
  });

  it("a user by email: the id always from PostgreSQL, the profile from the cache when EVENTUAL", async () => {
    const h = handle();
    const { user } = await identity().createUser({ idempotencyKey: key(), handle: h, email: `${h}@example.com` });
    executor().reset();
    await identity().getUser({ lookup: { case: "email", value: `${h.toUpperCase()}@EXAMPLE.com` }, consistency: EVENTUAL });
    const raw = executor().requests.filter((r) => r.body.includes("lower(email)"));
    expect(raw.map((r) => r.cacheControl)).toEqual([null]);
    expect(reads()).toEqual([{ read: "User.findUnique", cacheControl: "max-age=60,stale-while-revalidate=60", tags: [`user_${compact(user!.id)}`] }]);
  });

  it("users by ids: one entry under the batch tag", async () => {
    const a = (await identity().createUser({ idempotencyKey: key(), handle: handle() })).user!;
    const b = (await identity().createUser({ idempotencyKey: key(), handle: handle() })).user!;
    executor().reset();
    await identity().batchGetUsers({ userIds: [a.id, b.id], consistency: EVENTUAL });
    await identity().batchGetUsers({ userIds: [a.id, b.id] });
    expect(reads()).toEqual([
      { read: "User.findMany", cacheControl: "max-age=60,stale-while-revalidate=60", tags: ["users_batch"] },
      { read: "User.findMany", cacheControl: "no-cache", tags: [] },
    ]);
  });

  it("accounts and current balances: short-lived under the account's tag, in one query per balance", async () => {
    const account = await fundedAccount(ctx.client, 100n);
    executor().reset();
    await ctx.client.getAccount({ accountId: account.id, consistency: EVENTUAL });
    await ctx.client.getBalance({ accountId: account.id, consistency: EVENTUAL });
    await ctx.client.getBalance({ accountId: account.id });
    const tag = `account_${compact(account.id)}`;
    expect(reads()).toEqual([
      { read: "Account.findUnique", cacheControl: "max-age=1,stale-while-revalidate=1", tags: [tag] },
      { read: "Account.findUnique", cacheControl: "max-age=1,stale-while-revalidate=1", tags: [tag] },
    ]);
    // The STRONG balance is one fixed statement (src/store/read-sql.ts), sent without a cache directive.
    const strong = executor().requests.filter((r) => r.body.includes("last_position"));
    expect(strong.map((r) => [r.path, r.cacheControl, r.tags])).toEqual([["/query", null, []]]);
  });

  it("settled history is cached whatever the caller asks; unsettled history and positions never", async () => {
    const account = await fundedAccount(ctx.client, 100n);
    const longAgo = timestampFromDate(new Date(Date.now() - 10 * 60_000));
    const justNow = timestampFromDate(new Date());
    executor().reset();
    await ctx.client.getBalance({ accountId: account.id, asOf: { case: "asOfTime", value: longAgo } });
    await ctx.client.getBalance({ accountId: account.id, asOf: { case: "asOfTime", value: justNow }, consistency: EVENTUAL });
    await ctx.client.getBalance({ accountId: account.id, asOf: { case: "asOfPosition", value: 1n }, consistency: EVENTUAL });
    const entryReads = reads().filter((r) => r.read === "Entry.findFirst");
    expect(entryReads).toEqual([
      { read: "Entry.findFirst", cacheControl: "max-age=86400", tags: [] },
      { read: "Entry.findFirst", cacheControl: "no-cache", tags: [] },
      { read: "Entry.findFirst", cacheControl: "no-cache", tags: [] },
    ]);

    executor().reset();
    await ctx.client.listEntries({ accountId: account.id, endTime: longAgo });
    await ctx.client.listEntries({ accountId: account.id, endTime: justNow });
    await ctx.client.listEntries({ accountId: account.id });
    expect(reads().filter((r) => r.read === "Entry.findMany")).toEqual([
      { read: "Entry.findMany", cacheControl: "max-age=86400", tags: [] },
      { read: "Entry.findMany", cacheControl: "no-cache", tags: [] },
      { read: "Entry.findMany", cacheControl: "no-cache", tags: [] },
    ]);

    // Later pages of a settled range too: by the version in the token, or, for a token
    // without it (issued before), after a look-up of the version (final as well).
    const filters = { listing: "journal", accountId: account.id, end: timestampDate(longAgo).toISOString() };
    executor().reset();
    await ctx.client.listEntries({ accountId: account.id, endTime: longAgo, pageToken: encodePageToken("999999999999", filters, "5") });
    await ctx.client.listEntries({ accountId: account.id, endTime: longAgo, pageToken: encodePageToken("999999999999", filters) });
    await ctx.client.listEntries({ accountId: account.id, endTime: justNow, pageToken: encodePageToken("999999999999", { ...filters, end: timestampDate(justNow).toISOString() }, "5") });
    expect(reads().filter((r) => r.read.startsWith("Entry."))).toEqual([
      { read: "Entry.findMany", cacheControl: "max-age=86400", tags: [] },
      { read: "Entry.findFirst", cacheControl: "max-age=86400", tags: [] },
      { read: "Entry.findMany", cacheControl: "max-age=86400", tags: [] },
      { read: "Entry.findMany", cacheControl: "no-cache", tags: [] },
    ]);
  });

  it("a transfer by id under its tag when EVENTUAL; by idempotency key never, as it decides retries", async () => {
    const account = await fundedAccount(ctx.client, 0n);
    const fundKey = key("fund");
    const { transfer } = await ctx.client.transfer({ idempotencyKey: fundKey, debitAccountId: await issuance(ctx.client), creditAccountId: account.id, amount: 5n });
    executor().reset();
    await ctx.client.getTransfer({ lookup: { case: "transferId", value: transfer!.id }, consistency: EVENTUAL });
    await ctx.client.getTransfer({ lookup: { case: "idempotencyKey", value: fundKey }, consistency: EVENTUAL });
    expect(reads()).toEqual([
      { read: "Transfer.findUnique", cacheControl: "max-age=60,stale-while-revalidate=60", tags: [`transfer_${compact(transfer!.id)}`] },
      { read: "Transfer.findUnique", cacheControl: "no-cache", tags: [] },
    ]);
  });

  it("currencies: always, for long, under one tag", async () => {
    await ctx.client.listCurrencies({});
    await ctx.client.getCurrency({ code: "AEV" });
    expect(reads()).toEqual([
      { read: "Currency.findMany", cacheControl: "max-age=300,stale-while-revalidate=3600", tags: ["currencies"] },
      { read: "Currency.findUnique", cacheControl: "max-age=300,stale-while-revalidate=3600", tags: ["currencies"] },
    ]);
  });
});

describe("the consistency field", () => {
  it("refuses a value it does not know, by name, rather than guessing", async () => {
    const account = await fundedAccount(ctx.client, 0n);
    await expectFailure(ctx.client.getAccount({ accountId: account.id, consistency: 7 as ReadConsistency }), Code.InvalidArgument, "INVALID_ARGUMENT", "consistency");
  });
});

describe("nothing read to decide a write is cached", () => {
  it("every query of every mutation goes uncached", async () => {
    const from = await fundedAccount(ctx.client, 1_000n);
    const to = await fundedAccount(ctx.client, 0n);
    const h = handle();
    executor().reset();
    const { user } = await identity().createUser({ idempotencyKey: key(), handle: h });
    await identity().updateUser({ idempotencyKey: key(), userId: user!.id, version: 1n, updateMask: { paths: ["display_name"] }, displayName: "Ann" });
    await identity().suspendUser({ idempotencyKey: key(), userId: user!.id, reason: "check" });
    const { transfer } = await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: from.id, creditAccountId: to.id, amount: 10n });
    await ctx.client.transferBatch({ idempotencyKey: key(), legs: [{ debitAccountId: from.id, creditAccountId: to.id, amount: 1n }] });
    const { hold } = await ctx.client.createHold({ idempotencyKey: key(), debitAccountId: from.id, creditAccountId: to.id, amount: 3n });
    await ctx.client.captureHold({ idempotencyKey: key(), holdId: hold!.id, amount: 2n });
    await ctx.client.reverseTransfer({ idempotencyKey: key(), transferId: transfer!.id, amount: 4n });
    await ctx.client.freezeAccount({ idempotencyKey: key(), accountId: to.id, reason: "check" });

    const requests = executor().requests;
    expect(requests.filter((r) => r.path.startsWith("/transaction/")).length).toBeGreaterThan(0);
    const cachedOnes = requests.filter((r) => (r.cacheControl !== null && r.cacheControl !== "no-cache") || r.tags.length > 0);
    expect(cachedOnes.map((r) => r.body.slice(0, 120))).toEqual([]);
  });
});

describe("writes invalidate the tags they make stale, after commit, at most 5 per call", () => {
  it("CreateUser: the new handle and external identity (negative lookups may be cached)", async () => {
    const h = handle();
    await expectFailure(identity().getUser({ lookup: { case: "handle", value: h }, consistency: EVENTUAL }), Code.NotFound, "NOT_FOUND", "handle");
    executor().reset();
    const { user } = await identity().createUser({ idempotencyKey: key(), handle: h, externalIdentity: { provider: "p", subject: randomUUID() } });
    const tags = invalidated();
    expect(tags.has(`handle_${h}`)).toBe(true);
    expect([...tags].filter((t) => t.startsWith("extid_"))).toHaveLength(1);
    // The cached "no such handle" is gone with it.
    expect((await identity().getUser({ lookup: { case: "handle", value: h }, consistency: EVENTUAL })).user?.id).toBe(user!.id);
  });

  it("UpdateUser changing the handle: the user, the batch tag, the old and the new handle", async () => {
    const before = handle("old");
    const after = handle("new");
    const { user } = await identity().createUser({ idempotencyKey: key(), handle: before });
    executor().reset();
    await identity().updateUser({ idempotencyKey: key(), userId: user!.id, version: 1n, updateMask: { paths: ["handle"] }, handle: after });
    expect(invalidated()).toEqual(new Set([`user_${compact(user!.id)}`, "users_batch", `handle_${before}`, `handle_${after}`]));
  });

  it("DeleteUser: every lookup of the erased user, split into calls of at most 5 tags", async () => {
    const h = handle();
    const { user } = await identity().createUser({ idempotencyKey: key(), handle: h });
    for (let i = 0; i < 4; i++) {
      await identity().linkExternalIdentity({ idempotencyKey: key(), userId: user!.id, externalIdentity: { provider: `p${i}`, subject: randomUUID() } });
    }
    executor().reset();
    await identity().deleteUser({ idempotencyKey: key(), userId: user!.id });
    const calls = executor().invalidations;
    expect(calls.length).toBeGreaterThan(1);
    for (const call of calls) expect(call.length).toBeLessThanOrEqual(MAX_TAGS_PER_CALL);
    const tags = invalidated();
    expect(tags.size).toBe(7);
    expect([...tags].filter((t) => t.startsWith("extid_"))).toHaveLength(4);
    expect(tags).toContain(`user_${compact(user!.id)}`);
    expect(tags).toContain(`handle_${h}`);
  });

  it("status changes invalidate the account; transfers do not (balances age out)", async () => {
    const account = await fundedAccount(ctx.client, 50n);
    const other = await fundedAccount(ctx.client, 0n);
    executor().reset();
    await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: account.id, creditAccountId: other.id, amount: 5n });
    expect(executor().invalidations).toEqual([]);
    await ctx.client.freezeAccount({ idempotencyKey: key(), accountId: account.id, reason: "review" });
    expect(executor().invalidations).toEqual([[`account_${compact(account.id)}`]]);
  });

  it("a reversal invalidates the transfer it reverses", async () => {
    const account = await fundedAccount(ctx.client, 0n);
    const { transfer } = await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: await issuance(ctx.client), creditAccountId: account.id, amount: 9n });
    executor().reset();
    await ctx.client.reverseTransfer({ idempotencyKey: key(), transferId: transfer!.id, amount: 9n });
    expect(executor().invalidations).toEqual([[`transfer_${compact(transfer!.id)}`]]);
  });

  it("a replayed or failed write invalidates nothing", async () => {
    const h = handle();
    const request = { idempotencyKey: key(), handle: h };
    await identity().createUser(request);
    executor().reset();
    await identity().createUser(request);
    await expectFailure(identity().createUser({ idempotencyKey: key(), handle: h }), Code.AlreadyExists, "ALREADY_EXISTS", "handle");
    expect(executor().invalidations).toEqual([]);
  });
});
