/**
 * A few hundred calls over gRPC against the seeded ledger (big-ledger.ts),
 * touching every table on the request path and giving every background job
 * work: transfers grouped and one by one, batches, holds captured, voided
 * and left to expire, reversals, replays and refusals, reads by id, key,
 * owner, time and position, identities, audit events and the chain.
 */
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { expect } from "vitest";
import { AuditService } from "../../src/gen/aevon/audit/v1/audit_pb.js";
import type { User } from "../../src/gen/aevon/identity/v1/identity_pb.js";
import { HoldStatus, type Hold, type Transfer } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { SEED, seededTransfer, seededUser } from "../support/big-ledger.js";
import { identityClient, key, ledgerClient, rejection } from "../support/ledger.js";
import { until } from "../support/poll.js";
import type { TestServer } from "../support/server.js";

/** What the workload did: the calls it made (polls for the background jobs excluded). */
export interface WorkloadRun {
  calls: number;
}

/**
 * Runs the workload; `purge` runs the idempotency-key purge job once (its
 * timer is a minute, longer than the test).
 */
export async function runWorkload(server: TestServer, purge: () => Promise<number>): Promise<WorkloadRun> {
  const ledger = ledgerClient(server);
  const identity = identityClient(ledger);
  const audit = createClient(AuditService, createGrpcTransport({ baseUrl: `http://${server.grpcAddress}` }));
  let calls = 0;
  const call = <T>(p: Promise<T>): Promise<T> => {
    calls += 1;
    return p;
  };
  // Seeded users/accounts in a spread-out, repeatable order; each pair used once.
  let cursor = 0;
  const nextK = () => 1 + ((++cursor * 7919) % SEED.users);
  const account = () => seededUser(nextK()).accountId;
  const transfer = (amount = 3n) => ({ idempotencyKey: key("t"), debitAccountId: account(), creditAccountId: account(), amount });

  // Transfers: concurrent ones share transactions (group commit), then one at a time.
  const transfers: Transfer[] = [];
  for (let round = 0; round < 4; round++) {
    const replies = await Promise.all(Array.from({ length: 25 }, () => call(ledger.transfer(transfer()))));
    transfers.push(...replies.map((r) => r.transfer!));
  }
  for (let i = 0; i < 30; i++) transfers.push((await call(ledger.transfer(transfer()))).transfer!);

  // Replays, a reused key, a refusal stored and replayed.
  for (const t of transfers.slice(0, 5)) {
    const again = { idempotencyKey: t.idempotencyKey, debitAccountId: t.debitAccountId, creditAccountId: t.creditAccountId, amount: t.amount };
    expect((await call(ledger.transfer(again))).transfer!.id).toBe(t.id);
  }
  const first = transfers[0]!;
  await rejection(call(ledger.transfer({ idempotencyKey: first.idempotencyKey, debitAccountId: first.debitAccountId, creditAccountId: first.creditAccountId, amount: 1n })));
  const broke = transfer(SEED.mintAmount * 10n);
  await rejection(call(ledger.transfer(broke)));
  await rejection(call(ledger.transfer(broke)));

  for (let i = 0; i < 10; i++) {
    const legs = Array.from({ length: 5 }, () => ({ debitAccountId: account(), creditAccountId: account(), amount: 2n }));
    await call(ledger.transferBatch({ idempotencyKey: key("batch"), legs }));
  }

  // Holds: captured, voided, and left to expire (the expiry job releases them).
  const holds: Hold[] = [];
  for (let i = 0; i < 10; i++) holds.push((await call(ledger.createHold({ ...transfer(10n), idempotencyKey: key("hold") }))).hold!);
  for (const h of holds.slice(0, 5)) await call(ledger.captureHold({ idempotencyKey: key("capture"), holdId: h.id, amount: 4n }));
  for (const h of holds.slice(5)) await call(ledger.voidHold({ idempotencyKey: key("void"), holdId: h.id }));
  for (const h of holds.slice(0, 5)) await call(ledger.getHold({ holdId: h.id }));
  const expiring: Hold[] = [];
  for (let i = 0; i < 10; i++) {
    expiring.push((await call(ledger.createHold({ ...transfer(5n), idempotencyKey: key("expiring"), timeoutMs: 200n }))).hold!);
  }

  // Reversals of new and seeded transfers.
  for (const t of transfers.slice(40, 48)) await call(ledger.reverseTransfer({ idempotencyKey: key("rev"), transferId: t.id }));
  for (const t of [seededTransfer(SEED.users + 17), seededTransfer(SEED.users + 5003)]) {
    await call(ledger.reverseTransfer({ idempotencyKey: key("rev"), transferId: t.id, amount: 1n }));
  }

  // Reads.
  const dayAgo = Date.now() - 24 * 3600_000;
  for (let i = 0; i < 10; i++) await call(ledger.getBalance({ accountId: account() }));
  for (let i = 0; i < 5; i++) await call(ledger.getBalance({ accountId: account(), asOf: { case: "asOfPosition", value: 150_000n } }));
  for (let i = 0; i < 5; i++) {
    await call(ledger.getBalance({ accountId: account(), asOf: { case: "asOfTime", value: timestampFromDate(new Date(dayAgo + 20 * 3600_000)) } }));
  }
  for (let i = 0; i < 10; i++) await call(ledger.getAccount({ accountId: account() }));
  for (let i = 0; i < 5; i++) await call(ledger.listAccounts({ owner: { owner: { case: "userId", value: seededUser(nextK()).userId } } }));
  for (const t of transfers.slice(50, 55)) await call(ledger.getTransfer({ lookup: { case: "transferId", value: t.id } }));
  for (const t of transfers.slice(55, 60)) await call(ledger.getTransfer({ lookup: { case: "idempotencyKey", value: t.idempotencyKey } }));
  for (let t = 1; t <= 5; t++) {
    await call(ledger.getTransfer({ lookup: { case: "transferId", value: seededTransfer(t * 9001).id } }));
    await call(ledger.getTransfer({ lookup: { case: "idempotencyKey", value: seededTransfer(t * 9002).idempotencyKey } }));
  }
  for (let i = 0; i < 5; i++) await call(ledger.listEntries({ accountId: account(), pageSize: 10 }));
  for (let i = 0; i < 5; i++) {
    const range = { startTime: timestampFromDate(new Date(dayAgo + 3 * 3600_000)), endTime: timestampFromDate(new Date(dayAgo + 9 * 3600_000)) };
    await call(ledger.listEntries({ accountId: account(), pageSize: 10, ...range }));
  }
  for (let i = 0; i < 5; i++) await call(ledger.listTransfers({ accountId: account(), pageSize: 10 }));

  // Identities: new users and seeded ones, every lookup, updates, erasure.
  const users: User[] = [];
  for (let i = 0; i < 10; i++) users.push((await call(identity.createUser({ idempotencyKey: key("user"), handle: `w${key("").slice(2, 22).replaceAll("-", "")}` }))).user!);
  for (const u of users.slice(0, 5)) {
    await call(identity.updateUser({ idempotencyKey: key("upd"), userId: u.id, version: u.version, updateMask: { paths: ["display_name"] }, displayName: "Renamed" }));
    await call(ledger.createAccount({ idempotencyKey: key("acct"), owner: { owner: { case: "userId", value: u.id } }, currency: "EUR" }));
  }
  for (let i = 0; i < 4; i++) {
    const s = seededUser(nextK());
    await call(identity.getUser({ lookup: { case: "userId", value: s.userId } }));
    await call(identity.getUser({ lookup: { case: "handle", value: s.handle.toUpperCase() } }));
    await call(identity.getUser({ lookup: { case: "email", value: s.email } }));
    await call(identity.getUser({ lookup: { case: "externalIdentity", value: s.external } }));
  }
  await call(identity.batchGetUsers({ userIds: Array.from({ length: 10 }, () => seededUser(nextK()).userId) }));
  await call(identity.listUsers({ handlePrefix: "seed12", pageSize: 10 }));
  for (let i = 0; i < 3; i++) {
    const s = seededUser(nextK());
    await call(identity.updateUser({ idempotencyKey: key("upd"), userId: s.userId, version: 1n, updateMask: { paths: ["display_name"] }, displayName: "New" }));
    await call(identity.suspendUser({ idempotencyKey: key("sus"), userId: s.userId }));
    await call(identity.reactivateUser({ idempotencyKey: key("re"), userId: s.userId }));
    await call(identity.linkExternalIdentity({ idempotencyKey: key("link"), userId: s.userId, externalIdentity: { provider: "https://other.example", subject: key("sub") } }));
  }
  // Seed key i % 10 = 3 belongs to user (i % users) + 1: user 4 has stored replies to scrub.
  for (const k of [4, 14]) await call(identity.deleteUser({ idempotencyKey: key("del"), userId: seededUser(k).userId }));
  for (const id of [account(), account()]) {
    await call(ledger.freezeAccount({ idempotencyKey: key("fr"), accountId: id }));
    await call(ledger.unfreezeAccount({ idempotencyKey: key("unfr"), accountId: id }));
  }

  // The audit log.
  for (let i = 0; i < 10; i++) {
    await call(audit.append({ idempotencyKey: key("ev"), action: "aegis.login", resourceType: "session", resourceId: key("s"), payload: { n: i } }));
  }
  for (const id of [1n, 4242n, 99_999n, 50_000n, 12_345n]) await call(audit.getEvent({ id }));
  for (const t of [3, 30_000, 77_777]) await call(audit.listEvents({ resourceType: "transfer", resourceId: seededTransfer(t).id, pageSize: 10 }));
  await call(audit.listEvents({ actor: "seed", pageSize: 10 }));
  for (const fromSequence of [5000n, 90_000n]) {
    expect((await call(audit.verifyChain({ fromSequence, toSequence: fromSequence + 10n }))).ok).toBe(true);
  }

  calls += 1;
  expect(await purge()).toBe(SEED.expiredKeys);

  // The background jobs' turn: expire the short holds, seal every event.
  const expired = await until(
    () => Promise.all(expiring.map((h) => ledger.getHold({ holdId: h.id }))),
    (rs) => rs.every((r) => r.hold!.status === HoldStatus.EXPIRED),
    15_000,
    100,
  );
  expect(expired.map((r) => HoldStatus[r.hold!.status])).toEqual(expiring.map(() => "EXPIRED"));
  const sealed = await until(() => audit.checkpoint({}), (c) => c.unsealedCount === 0n, 15_000, 100);
  expect(sealed.unsealedCount).toBe(0n);
  return { calls };
}
