/**
 * Every identity and ledger mutation appends its audit event in the same
 * transaction: after a commit the event is there (actor, action, resource,
 * payload); after a failure there is none.
 */
import { randomUUID } from "node:crypto";
import { Code, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { beforeAll, describe, expect, it } from "vitest";
import { AuditService } from "../../src/gen/aevon/audit/v1/audit_pb.js";
import { IdentityService } from "../../src/gen/aevon/identity/v1/identity_pb.js";
import { LedgerService } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { expectFailure, issuance, key, useLedgerServer } from "../support/ledger.js";

const ctx = useLedgerServer();
const ACTOR = "svc-coverage";
const asActor: Interceptor = (next) => (req) => {
  req.header.set("x-actor", ACTOR);
  return next(req);
};
let ledger: ReturnType<typeof createClient<typeof LedgerService>>;
let identity: ReturnType<typeof createClient<typeof IdentityService>>;
let audit: ReturnType<typeof createClient<typeof AuditService>>;
beforeAll(() => {
  const transport = createGrpcTransport({ baseUrl: `http://${ctx.server.grpcAddress}`, interceptors: [asActor] });
  ledger = createClient(LedgerService, transport);
  identity = createClient(IdentityService, transport);
  audit = createClient(AuditService, transport);
});

async function eventsFor(resourceType: string, resourceId: string) {
  return (await audit.listEvents({ resourceType, resourceId, pageSize: 100 })).events;
}

async function totalEvents(): Promise<number> {
  const { rows } = await ctx.server.database.sql<{ n: number }>("SELECT count(*)::int AS n FROM audit_events");
  return rows[0]!.n;
}

/** Runs a call that must fail with `code` and `reason` (and no other way), and checks it left no audit event behind. */
async function failsWithoutTrace(call: () => Promise<unknown>, code: Code, reason: string) {
  const before = await totalEvents();
  await expectFailure(call(), code, reason);
  expect(await totalEvents()).toBe(before);
}

async function newUser() {
  return (await identity.createUser({ idempotencyKey: key(), handle: `c${randomUUID().replaceAll("-", "").slice(0, 16)}` })).user!;
}

async function funded(amount: bigint) {
  const user = await newUser();
  const { account } = await ledger.createAccount({ idempotencyKey: key(), owner: { owner: { case: "userId", value: user.id } }, currency: "USD" });
  if (amount > 0n) await ledger.transfer({ idempotencyKey: key(), debitAccountId: await issuance(ledger), creditAccountId: account!.id, amount });
  return account!;
}

function expectEvent(
  events: { action: string; actor: string; onBehalfOf: string; payload?: unknown; idempotencyKey: string }[],
  action: string,
  payload: object,
  idempotencyKey?: string,
) {
  const event = events.find((e) => e.action === action);
  expect(event, `no ${action} event`).toBeDefined();
  // The actor is the caller's principal (anonymous: these tests run without authentication);
  // what the caller says in x-actor is recorded beside it.
  expect(event!.actor).toBe("anonymous");
  expect(event!.onBehalfOf).toBe(ACTOR);
  expect(event!.payload).toMatchObject(payload);
  if (idempotencyKey) expect(event!.idempotencyKey).toBe(idempotencyKey);
}

describe("audit coverage of identity mutations", () => {
  it("CreateUser, UpdateUser, SuspendUser, ReactivateUser, LinkExternalIdentity, DeleteUser", async () => {
    const k = key();
    const { user } = await identity.createUser({ idempotencyKey: k, handle: `c${randomUUID().replaceAll("-", "").slice(0, 12)}`, email: `${randomUUID()}@example.com` });
    expectEvent(await eventsFor("user", user!.id), "identity.user.create", { default_account_id: user!.defaultAccountId }, k);
    await failsWithoutTrace(() => identity.createUser({ idempotencyKey: key(), handle: user!.handle }), Code.AlreadyExists, "ALREADY_EXISTS");

    await identity.updateUser({ idempotencyKey: key(), userId: user!.id, version: 1n, updateMask: { paths: ["display_name"] }, displayName: "C" });
    expectEvent(await eventsFor("user", user!.id), "identity.user.update", { fields: ["display_name"], version: "2" });
    await failsWithoutTrace(() => identity.updateUser({ idempotencyKey: key(), userId: user!.id, version: 1n, updateMask: { paths: ["display_name"] }, displayName: "D" }), Code.Aborted, "VERSION_MISMATCH");

    await identity.suspendUser({ idempotencyKey: key(), userId: user!.id, reason: "review" });
    expectEvent(await eventsFor("user", user!.id), "identity.user.suspend", { reason: "review", from_status: "ACTIVE" });
    await identity.reactivateUser({ idempotencyKey: key(), userId: user!.id });
    expectEvent(await eventsFor("user", user!.id), "identity.user.reactivate", { from_status: "SUSPENDED" });

    await identity.linkExternalIdentity({ idempotencyKey: key(), userId: user!.id, externalIdentity: { provider: "https://idp.example", subject: "s-1" } });
    expectEvent(await eventsFor("user", user!.id), "identity.user.link_external_identity", { provider: "https://idp.example" });
    await failsWithoutTrace(() => identity.linkExternalIdentity({ idempotencyKey: key(), userId: user!.id, externalIdentity: { provider: "https://idp.example", subject: "s-1" } }), Code.AlreadyExists, "ALREADY_EXISTS");

    await identity.deleteUser({ idempotencyKey: key(), userId: user!.id, reason: "erasure" });
    const events = await eventsFor("user", user!.id);
    expectEvent(events, "identity.user.delete", { reason: "erasure" });
    await failsWithoutTrace(() => identity.suspendUser({ idempotencyKey: key(), userId: user!.id }), Code.FailedPrecondition, "USER_DELETED");
    // No personal data in the log: neither handle nor email appear in any event of the user.
    const text = JSON.stringify(events, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
    expect(text).not.toContain(user!.handle);
    expect(text).not.toContain(user!.email);
  });
});

describe("audit coverage of ledger mutations", () => {
  it("CreateAccount, Freeze, Unfreeze, Close", async () => {
    const user = await newUser();
    const k = key();
    const { account } = await ledger.createAccount({ idempotencyKey: k, owner: { owner: { case: "userId", value: user.id } }, currency: "USD" });
    expectEvent(await eventsFor("account", account!.id), "ledger.account.create", { owner_type: "USER", owner_id: user.id, currency: "USD", min_balance: "0" }, k);
    await failsWithoutTrace(() => ledger.createAccount({ idempotencyKey: key(), owner: { owner: { case: "userId", value: randomUUID() } }, currency: "USD" }), Code.NotFound, "NOT_FOUND");
    await ledger.freezeAccount({ idempotencyKey: key(), accountId: account!.id, reason: "r1" });
    expectEvent(await eventsFor("account", account!.id), "ledger.account.freeze", { to_status: "FROZEN", reason: "r1" });
    await ledger.unfreezeAccount({ idempotencyKey: key(), accountId: account!.id });
    expectEvent(await eventsFor("account", account!.id), "ledger.account.unfreeze", { to_status: "ACTIVE" });
    await ledger.closeAccount({ idempotencyKey: key(), accountId: account!.id });
    expectEvent(await eventsFor("account", account!.id), "ledger.account.close", { to_status: "CLOSED" });
    await failsWithoutTrace(() => ledger.freezeAccount({ idempotencyKey: key(), accountId: account!.id }), Code.FailedPrecondition, "ACCOUNT_CLOSED");
  });

  it("Transfer, TransferBatch, ReverseTransfer", async () => {
    const a = await funded(1_000n);
    const b = await funded(0n);
    const { transfer } = await ledger.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 100n });
    expectEvent(await eventsFor("transfer", transfer!.id), "ledger.transfer", { debit_account_id: a.id, credit_account_id: b.id, amount: "100", currency: "USD" });
    await failsWithoutTrace(() => ledger.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 10_000n }), Code.FailedPrecondition, "INSUFFICIENT_FUNDS");

    const batch = await ledger.transferBatch({ idempotencyKey: key(), legs: [{ debitAccountId: a.id, creditAccountId: b.id, amount: 5n }, { debitAccountId: b.id, creditAccountId: a.id, amount: 1n }] });
    expectEvent(await eventsFor("transfer_batch", batch.batchId), "ledger.transfer_batch", { transfers: [{ id: batch.transfers[0]!.id, amount: "5" }, { id: batch.transfers[1]!.id, amount: "1" }] });
    await failsWithoutTrace(() => ledger.transferBatch({ idempotencyKey: key(), legs: [{ debitAccountId: a.id, creditAccountId: b.id, amount: 1n }, { debitAccountId: b.id, creditAccountId: a.id, amount: 1_000_000n }] }), Code.FailedPrecondition, "INSUFFICIENT_FUNDS");

    const { reversal } = await ledger.reverseTransfer({ idempotencyKey: key(), transferId: transfer!.id, amount: 40n });
    expectEvent(await eventsFor("transfer", reversal!.id), "ledger.transfer.reverse", { reverses_transfer_id: transfer!.id, amount: "40" });
    await failsWithoutTrace(() => ledger.reverseTransfer({ idempotencyKey: key(), transferId: transfer!.id, amount: 61n }), Code.FailedPrecondition, "REVERSAL_EXCEEDS_TRANSFER");
  });

  it("CreateHold, CaptureHold, VoidHold", async () => {
    const a = await funded(1_000n);
    const b = await funded(0n);
    const { hold } = await ledger.createHold({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 300n });
    expectEvent(await eventsFor("hold", hold!.id), "ledger.hold.create", { amount: "300", debit_account_id: a.id });
    await failsWithoutTrace(() => ledger.createHold({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 701n }), Code.FailedPrecondition, "INSUFFICIENT_FUNDS");
    const captured = await ledger.captureHold({ idempotencyKey: key(), holdId: hold!.id, amount: 100n });
    expectEvent(await eventsFor("hold", hold!.id), "ledger.hold.capture", { captured_amount: "100", transfer_id: captured.transfer!.id });
    await failsWithoutTrace(() => ledger.captureHold({ idempotencyKey: key(), holdId: hold!.id }), Code.FailedPrecondition, "HOLD_NOT_PENDING");
    const { hold: other } = await ledger.createHold({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 50n });
    await ledger.voidHold({ idempotencyKey: key(), holdId: other!.id });
    expectEvent(await eventsFor("hold", other!.id), "ledger.hold.void", { status: "VOIDED" });
    await failsWithoutTrace(() => ledger.voidHold({ idempotencyKey: key(), holdId: other!.id }), Code.FailedPrecondition, "HOLD_NOT_PENDING");
  });

  it("hold expiry is recorded by the service itself", async () => {
    const a = await funded(100n);
    const b = await funded(0n);
    const { hold } = await ledger.createHold({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 10n, timeoutMs: 1n });
    const end = Date.now() + 5_000;
    let events = await eventsFor("hold", hold!.id);
    while (!events.some((e) => e.action === "ledger.hold.expire") && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
      events = await eventsFor("hold", hold!.id);
    }
    const expired = events.find((e) => e.action === "ledger.hold.expire");
    expect(expired?.actor).toBe("system:ledger-of-record");
  });
});
