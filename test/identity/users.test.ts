/** IdentityService through a real gRPC client against real PostgreSQL. */
import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { UserStatus, type User } from "../../src/gen/aevon/identity/v1/identity_pb.js";
import { AccountStatus } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { ReadConsistency } from "../../src/gen/aevon/type/v1/read_consistency_pb.js";
import { expectFailure, fundedAccount, identityClient, key, reasonOf, useLedgerServer, settle } from "../support/ledger.js";
import { shiftNanos } from "../support/timestamps.js";

const ctx = useLedgerServer();
const identity = () => identityClient(ctx.client);
const handle = (prefix = "u") => `${prefix}${randomUUID().replaceAll("-", "").slice(0, 16)}`;

describe("CreateUser", () => {
  it("registers a user with its default wallet (zero balance) in one go", async () => {
    const h = handle("Alice_");
    // Taken as sent (no trimming); only the handle's case is folded.
    const { user } = await identity().createUser({ idempotencyKey: key(), handle: h, email: `${h}@Example.com`, displayName: " Alice 🦊 " });
    expect(user).toMatchObject({ handle: h.toLowerCase(), email: `${h}@Example.com`, displayName: " Alice 🦊 ", status: UserStatus.ACTIVE, version: 1n });
    const { account } = await ctx.client.getAccount({ accountId: user!.defaultAccountId });
    expect(account).toMatchObject({ currency: "AEV", isDefault: true, status: AccountStatus.ACTIVE, balance: { posted: 0n, available: 0n } });
    expect(account?.owner?.owner).toEqual({ case: "userId", value: user!.id });
  });

  it("is idempotent by key, and rejects the key with another request", async () => {
    const request = { idempotencyKey: key(), handle: handle() };
    const first = await identity().createUser(request);
    expect(await identity().createUser(request)).toEqual(first);
    await expectFailure(identity().createUser({ ...request, displayName: "other" }), Code.AlreadyExists, "IDEMPOTENCY_KEY_REUSED");
    const { rows } = await ctx.server.database.sql("SELECT count(*)::int AS n FROM accounts WHERE owner_id = $1", [first.user!.id]);
    expect(rows[0]?.n).toBe(1);
  });

  it("lets exactly one of concurrent case-variant handles through", async () => {
    const base = handle("case");
    const variants = [base, base.toUpperCase(), base[0]!.toUpperCase() + base.slice(1), base.toLowerCase(), base.toUpperCase().replace("U", "u")];
    const { ok, failed } = await settle(variants.map((h) => identity().createUser({ idempotencyKey: key(), handle: h })));
    expect(ok.length).toBe(1);
    expect(failed.map((e) => [Code[e.code], reasonOf(e), e.rawMessage])).toEqual(
      Array(variants.length - 1).fill(["AlreadyExists", "ALREADY_EXISTS", "handle is taken"]),
    );
    const { rows } = await ctx.server.database.sql("SELECT count(*)::int AS n FROM users WHERE handle = $1", [base.toLowerCase()]);
    expect(rows[0]?.n).toBe(1);
  });

  it("keeps emails unique case-insensitively and validates fields by name", async () => {
    const email = `${handle()}@example.com`;
    await identity().createUser({ idempotencyKey: key(), handle: handle(), email });
    await expectFailure(identity().createUser({ idempotencyKey: key(), handle: handle(), email: email.toUpperCase() }), Code.AlreadyExists, "ALREADY_EXISTS", "email");
    await expectFailure(identity().createUser({ idempotencyKey: key(), handle: "ab" }), Code.InvalidArgument, "INVALID_ARGUMENT", "handle");
    await expectFailure(identity().createUser({ idempotencyKey: key(), handle: "1abc" }), Code.InvalidArgument, "INVALID_ARGUMENT", "handle");
    await expectFailure(identity().createUser({ idempotencyKey: key(), handle: "bad-handle" }), Code.InvalidArgument, "INVALID_ARGUMENT", "handle");
    await expectFailure(identity().createUser({ idempotencyKey: key(), handle: handle(), email: "nope" }), Code.InvalidArgument, "INVALID_ARGUMENT", "email");
    await expectFailure(identity().createUser({ idempotencyKey: key(), handle: handle(), displayName: "x".repeat(101) }), Code.InvalidArgument, "INVALID_ARGUMENT", "display_name");
  });
});

describe("GetUser and BatchGetUsers", () => {
  it("serve EVENTUAL reads on every database path, and never an answer older than a write made here", async () => {
    // Direct: the client drops cacheStrategy, every read is PostgreSQL's.
    // Accelerate: answers come from the fixture's cache (test/support/accelerate-cache.ts)
    // until a write made here invalidates their tags, before it replies.
    const cached = ctx.server.executor !== undefined;
    const { user } = await identity().createUser({ idempotencyKey: key(), handle: handle() });
    const eventual = { lookup: { case: "userId" as const, value: user!.id }, consistency: ReadConsistency.EVENTUAL };
    const batch = { userIds: [user!.id], consistency: ReadConsistency.EVENTUAL };
    expect((await identity().getUser(eventual)).user?.displayName).toBe("");
    expect((await identity().batchGetUsers(batch)).users.map((u) => u.displayName)).toEqual([""]);

    // A change nobody announces (straight to PostgreSQL) shows there is a cache to be stale:
    // on the Accelerate path both reads keep answering from it.
    await ctx.server.database.sql("UPDATE users SET display_name = 'unannounced' WHERE id = $1", [user!.id]);
    const unannounced = cached ? "" : "unannounced";
    expect((await identity().getUser(eventual)).user?.displayName).toBe(unannounced);
    expect((await identity().batchGetUsers(batch)).users.map((u) => u.displayName)).toEqual([unannounced]);

    // A write made here: the very next EVENTUAL reads see it.
    await identity().updateUser({ idempotencyKey: key(), userId: user!.id, version: 1n, updateMask: { paths: ["display_name"] }, displayName: "Now" });
    expect((await identity().getUser(eventual)).user).toMatchObject({ displayName: "Now", version: 2n });
    expect((await identity().batchGetUsers(batch)).users.map((u) => u.displayName)).toEqual(["Now"]);
  });

  it("finds a user by id, handle and email (any case) and external identity", async () => {
    const h = handle();
    const external = { provider: "https://accounts.example.com", subject: randomUUID() };
    const { user } = await identity().createUser({ idempotencyKey: key(), handle: h, email: `${h}@example.com`, externalIdentity: external });
    expect(user?.externalIdentities).toEqual([expect.objectContaining(external)]);
    for (const lookup of [
      { case: "userId" as const, value: user!.id },
      { case: "handle" as const, value: h.toUpperCase() },
      { case: "email" as const, value: `${h.toUpperCase()}@EXAMPLE.COM` },
      { case: "externalIdentity" as const, value: external },
    ]) {
      expect((await identity().getUser({ lookup })).user?.id).toBe(user!.id);
    }
    await expectFailure(identity().getUser({ lookup: { case: "handle", value: handle() } }), Code.NotFound, "NOT_FOUND", "handle");
    await expectFailure(identity().createUser({ idempotencyKey: key(), handle: handle(), externalIdentity: external }), Code.AlreadyExists, "ALREADY_EXISTS", "external_identity");
  });

  it("returns the existing users of a batch in request order, up to 100 ids", async () => {
    const a = (await identity().createUser({ idempotencyKey: key(), handle: handle() })).user!;
    const b = (await identity().createUser({ idempotencyKey: key(), handle: handle() })).user!;
    const res = await identity().batchGetUsers({ userIds: [b.id, randomUUID(), a.id] });
    expect(res.users.map((u) => u.id)).toEqual([b.id, a.id]);
    await expectFailure(identity().batchGetUsers({ userIds: Array.from({ length: 101 }, () => randomUUID()) }), Code.InvalidArgument, "INVALID_ARGUMENT", "user_ids");
  });
});

describe("UpdateUser", () => {
  it("applies the field mask and bumps the version", async () => {
    const { user } = await identity().createUser({ idempotencyKey: key(), handle: handle(), displayName: "Old" });
    const h = handle("new");
    const request = {
      idempotencyKey: key(),
      userId: user!.id,
      version: user!.version,
      updateMask: { paths: ["display_name", "handle"] },
      displayName: "New",
      handle: h.toUpperCase(),
      email: "ignored@example.com",
    };
    const res = await identity().updateUser(request);
    expect(res.user).toMatchObject({ displayName: "New", handle: h, email: "", version: 2n });
    // A mask is a set: its paths in another order (or twice) are the same request, so the retry replays.
    const reordered = await identity().updateUser({ ...request, updateMask: { paths: ["handle", "display_name", "handle"] } });
    expect(reordered.user).toEqual(res.user);
    await expectFailure(
      identity().updateUser({ idempotencyKey: key(), userId: user!.id, version: 2n, updateMask: { paths: ["status"] } }),
      Code.InvalidArgument,
      "INVALID_ARGUMENT",
      "update_mask",
    );
  });

  it("two updates carrying the same version: exactly one wins, the other is ABORTED", async () => {
    const { user } = await identity().createUser({ idempotencyKey: key(), handle: handle() });
    const { ok, failed } = await settle(
      ["First", "Second", "Third"].map((name) =>
        identity().updateUser({ idempotencyKey: key(), userId: user!.id, version: user!.version, updateMask: { paths: ["display_name"] }, displayName: name }),
      ),
    );
    expect(ok.length).toBe(1);
    expect(failed.map((e) => [Code[e.code], reasonOf(e)])).toEqual([
      ["Aborted", "VERSION_MISMATCH"],
      ["Aborted", "VERSION_MISMATCH"],
    ]);
    const now = await identity().getUser({ lookup: { case: "userId", value: user!.id } });
    expect(now.user).toMatchObject({ version: 2n, displayName: ok[0]!.user!.displayName });
  });
});

describe("suspension", () => {
  it("stops a suspended user's accounts from sending until reactivated", async () => {
    const payer = await fundedAccount(ctx.client, 100n);
    const payee = await fundedAccount(ctx.client, 10n);
    const ownerId = payer.owner!.owner.value as string;
    const suspended = await identity().suspendUser({ idempotencyKey: key(), userId: ownerId, reason: "chargebacks" });
    expect(suspended.user?.status).toBe(UserStatus.SUSPENDED);
    await expectFailure(
      ctx.client.transfer({ idempotencyKey: key(), debitAccountId: payer.id, creditAccountId: payee.id, amount: 1n }),
      Code.FailedPrecondition,
      "USER_SUSPENDED",
      "debit_account_id",
    );
    // Receiving still works.
    const received = await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: payee.id, creditAccountId: payer.id, amount: 1n });
    expect(received.transfer?.creditBalanceAfter).toBe(101n);
    await identity().reactivateUser({ idempotencyKey: key(), userId: ownerId });
    await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: payer.id, creditAccountId: payee.id, amount: 1n });
  });
});

describe("DeleteUser (erasure)", () => {
  it("scrubs personal data, keeps the id and the ledger history, and releases the handle", async () => {
    const h = handle();
    const external = { provider: "https://idp.example.com", subject: randomUUID() };
    const { user } = await identity().createUser({ idempotencyKey: key(), handle: h, email: `${h}@example.com`, displayName: "Erase Me", externalIdentity: external });
    const wallet = user!.defaultAccountId;
    const other = await fundedAccount(ctx.client, 50n);
    // Give the user some history: money in, in the AEV wallet.
    const aevIssuer = (await ctx.client.listAccounts({ owner: { owner: { case: "system", value: 1 } }, currency: "AEV" })).accounts[0]!.id;
    const { transfer } = await ctx.client.transfer({ idempotencyKey: key(), debitAccountId: aevIssuer, creditAccountId: wallet, amount: 5n });
    expect(other).toBeDefined();

    const deleted = await identity().deleteUser({ idempotencyKey: key(), userId: user!.id, reason: "GDPR request" });
    expect(deleted.user).toMatchObject({ id: user!.id, handle: "", email: "", displayName: "", status: UserStatus.DELETED, externalIdentities: [] });

    // Checked in SQL: nothing personal is left in the users table.
    const { rows } = await ctx.server.database.sql("SELECT handle, email, display_name FROM users WHERE id = $1", [user!.id]);
    expect(rows).toEqual([{ handle: null, email: null, display_name: "" }]);
    const leaks = await ctx.server.database.sql("SELECT count(*)::int AS n FROM users WHERE handle = $1 OR lower(email) = lower($2) OR display_name = 'Erase Me'", [h, `${h}@example.com`]);
    expect(leaks.rows[0]?.n).toBe(0);
    const links = await ctx.server.database.sql("SELECT count(*)::int AS n FROM external_identities WHERE user_id = $1", [user!.id]);
    expect(links.rows[0]?.n).toBe(0);

    // The ledger history stays readable.
    expect((await ctx.client.getTransfer({ lookup: { case: "transferId", value: transfer!.id } })).transfer?.amount).toBe(5n);
    expect((await ctx.client.listTransfers({ accountId: wallet })).transfers.map((t) => t.id)).toEqual([transfer!.id]);
    // The deleted user's wallet can neither send nor receive.
    await expectFailure(
      ctx.client.transfer({ idempotencyKey: key(), debitAccountId: aevIssuer, creditAccountId: wallet, amount: 1n }),
      Code.FailedPrecondition,
      "USER_DELETED",
    );
    await expectFailure(identity().updateUser({ idempotencyKey: key(), userId: user!.id, version: 2n, updateMask: { paths: ["display_name"] } }), Code.FailedPrecondition, "USER_DELETED");
    // Handle and email are released.
    await identity().createUser({ idempotencyKey: key(), handle: h, email: `${h}@example.com` });
  });
});

describe("ListUsers", () => {
  it("filters by status, handle prefix and creation time", async () => {
    const prefix = `p${randomUUID().replaceAll("-", "").slice(0, 8)}`;
    const made = [];
    for (let i = 0; i < 3; i++) made.push((await identity().createUser({ idempotencyKey: key(), handle: `${prefix}_${i}` })).user!);
    await identity().suspendUser({ idempotencyKey: key(), userId: made[1]!.id });
    const byPrefix = await identity().listUsers({ handlePrefix: prefix.toUpperCase() });
    expect(byPrefix.users.map((u) => u.id)).toEqual(made.map((u) => u.id));
    const suspended = await identity().listUsers({ handlePrefix: prefix, status: UserStatus.SUSPENDED });
    expect(suspended.users.map((u) => u.id)).toEqual([made[1]!.id]);
    const later = await identity().listUsers({ handlePrefix: prefix, createdAfter: made[1]!.createTime });
    expect(later.users.map((u) => u.id)).toEqual(made.slice(1).map((u) => u.id));
    // Nanoseconds count: a bound 1 ns after a user's creation leaves it out of "after" and keeps it in "before".
    const oneNsLater = shiftNanos(made[1]!.createTime!, 1);
    expect((await identity().listUsers({ handlePrefix: prefix, createdAfter: oneNsLater })).users.map((u) => u.id)).not.toContain(made[1]!.id);
    expect((await identity().listUsers({ handlePrefix: prefix, createdBefore: oneNsLater })).users.map((u) => u.id)).toContain(made[1]!.id);
    const none = await identity().listUsers({ handlePrefix: prefix, createdBefore: timestampFromDate(new Date(0)) });
    expect(none.users).toEqual([]);
    await expectFailure(identity().listUsers({ handlePrefix: "bad-prefix" }), Code.InvalidArgument, "INVALID_ARGUMENT", "handle_prefix");
  });

  it("a creation range is half-open and pages in id order, alone or with status and prefix", async () => {
    const prefix = `r${randomUUID().replaceAll("-", "").slice(0, 8)}`;
    const made: User[] = [];
    for (let i = 0; i < 8; i++) {
      made.push((await identity().createUser({ idempotencyKey: key(), handle: `${prefix}_${i}` })).user!);
      if (i % 3 === 0) await new Promise((r) => setTimeout(r, 3));
    }
    await identity().suspendUser({ idempotencyKey: key(), userId: made[3]!.id });
    const ms = (u: User) => Number(u.createTime!.seconds) * 1000 + u.createTime!.nanos / 1e6;
    const range = { createdAfter: made[1]!.createTime, createdBefore: made[6]!.createTime };
    const expected = made.filter((u) => ms(u) >= ms(made[1]!) && ms(u) < ms(made[6]!)).map((u) => u.id);
    expect(expected).toContain(made[1]!.id);
    expect(expected).not.toContain(made[6]!.id);
    const list = async (filter: Record<string, unknown>, pageSize: number) => {
      const seen: string[] = [];
      let pageToken = "";
      do {
        const page = await identity().listUsers({ ...filter, pageSize, pageToken });
        expect(page.users.length).toBeLessThanOrEqual(pageSize);
        seen.push(...page.users.map((u) => u.id));
        pageToken = page.nextPageToken;
      } while (pageToken);
      return seen;
    };
    // Other tests' users are outside the range (they were created before or after, one file at a time).
    for (const pageSize of [1, 2, 3, 100]) expect(await list(range, pageSize), `page size ${pageSize}`).toEqual(expected);
    expect(expected).toEqual([...expected].sort());
    expect(await list({ ...range, status: UserStatus.SUSPENDED }, 1)).toEqual([made[3]!.id]);
    expect(await list({ ...range, handlePrefix: `${prefix}_1` }, 1)).toEqual([made[1]!.id]);
    expect(await list({ createdAfter: made[6]!.createTime }, 2)).toEqual(expect.arrayContaining([made[6]!.id, made[7]!.id]));
    const page = await identity().listUsers({ ...range, pageSize: 1 });
    await expectFailure(identity().listUsers({ createdAfter: range.createdAfter, pageSize: 1, pageToken: page.nextPageToken }), Code.InvalidArgument, "INVALID_ARGUMENT", "page_token");
  });

  it("a handle prefix is matched literally, up to its last character", async () => {
    const p = `q${randomUUID().replaceAll("-", "").slice(0, 8)}`;
    const ids: Record<string, string> = {};
    for (const suffix of ["_x1", "ax1", "z1", "9z", "zz"]) ids[suffix] = (await identity().createUser({ idempotencyKey: key(), handle: `${p}${suffix}` })).user!.id;
    const handles = async (handlePrefix: string) => (await identity().listUsers({ handlePrefix, pageSize: 100 })).users.map((u) => u.handle).sort();
    expect(await handles(p)).toEqual(["_x1", "9z", "ax1", "z1", "zz"].map((x) => `${p}${x}`).sort());
    expect(await handles(`${p}_`)).toEqual([`${p}_x1`]);
    expect(await handles(`${p}z`)).toEqual([`${p}z1`, `${p}zz`]);
    expect(await handles(`${p}zz`)).toEqual([`${p}zz`]);
    expect(await handles(`${p}9`)).toEqual([`${p}9z`]);
    expect(await handles(`${p}a`)).toEqual([`${p}ax1`]);
    expect(await handles(`${p}b`)).toEqual([]);
  });

  it("pages of 37 over 1,000 users return each existing user exactly once while others are being created", async () => {
    const prefix = `pg${randomUUID().replaceAll("-", "").slice(0, 6)}`;
    const existing: string[] = [];
    for (let batch = 0; batch < 1000 / 50; batch++) {
      const created = await Promise.all(
        Array.from({ length: 50 }, (_, i) => identity().createUser({ idempotencyKey: key(), handle: `${prefix}_${batch * 50 + i}` })),
      );
      existing.push(...created.map((r) => r.user!.id));
    }
    let creating = true;
    let extra = 0;
    const writer = (async () => {
      while (creating) {
        await identity().createUser({ idempotencyKey: key(), handle: `${prefix}_x${extra++}` });
      }
    })();
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await identity().listUsers({ handlePrefix: prefix, pageSize: 37, pageToken });
      expect(page.users.length).toBeLessThanOrEqual(37);
      seen.push(...page.users.map((u) => u.id));
      pageToken = page.nextPageToken;
    } while (pageToken);
    creating = false;
    await writer;
    expect(extra).toBeGreaterThan(0);
    const counts = new Map<string, number>();
    for (const id of seen) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(existing.filter((id) => counts.get(id) !== 1)).toEqual([]);
  });
});
