/**
 * The contract's rules (buf.validate options in proto/), as a foreign client
 * meets them on both ports: grpc-js with only the .proto files on the gRPC
 * port, raw JSON on the Connect port. Every rule family refuses its input
 * with INVALID_ARGUMENT, ErrorInfo naming the first field, and a
 * google.rpc.BadRequest with one violation per broken rule (field path as in
 * the .proto, rule id in `reason`); nothing changes in the database. Most of
 * these inputs were refused by checks in the domain before; this file is the
 * proof that the contract refuses them now.
 */
import { getOption, hasOption } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { file_aevon_audit_v1_audit } from "../../src/gen/aevon/audit/v1/audit_pb.js";
import { file_aevon_identity_v1_identity } from "../../src/gen/aevon/identity/v1/identity_pb.js";
import { file_aevon_ledger_v1_ledger } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { message as messageRules } from "../../src/gen/buf/validate/validate_pb.js";
import { handle, key, useForeignFixture, type ServiceName } from "../support/foreign-fixture.js";
import { answerOf, connectJson, fingerprint, type Answer } from "../support/hostile.js";

const f = useForeignFixture();
const { fx } = f;

const SERVICES: Record<Exclude<ServiceName, "health">, string> = {
  ledger: "aevon.ledger.v1.LedgerService",
  identity: "aevon.identity.v1.IdentityService",
  audit: "aevon.audit.v1.AuditService",
};

/** One request, refused on both ports with exactly these [field path, rule id] violations. */
interface Case {
  name: string;
  service: Exclude<ServiceName, "health">;
  method: string;
  /** The request in proto3 JSON, which the grpc-js client (proto-loader objects) also takes unless `grpc` says otherwise. */
  request: () => object;
  /** The same request as a proto-loader object, where JSON differs (timestamps, field masks). */
  grpc?: () => object;
  violations: [field: string, ruleId: string][];
}

type Port = "grpc" | "connect";

async function send(port: Port, c: Pick<Case, "service" | "method" | "request" | "grpc">): Promise<Answer> {
  if (port === "grpc") {
    const call = f.call(c.service, c.method, (c.grpc ?? c.request)());
    return answerOf(call).catch(async () => (await call, { code: 0, message: "" }));
  }
  return connectJson(f.server.connectBaseUrl, `/${SERVICES[c.service]}/${c.method}`, JSON.stringify(c.request()));
}

function expectRefused(answer: Answer, violations: [string, string][]): void {
  expect(grpc.status[answer.code]).toBe("INVALID_ARGUMENT");
  expect(answer.errorInfo?.reason).toBe("INVALID_ARGUMENT");
  const listed = (answer.badRequest?.fieldViolations ?? []).map((v) => [v.field, v.reason]);
  expect(listed.toSorted()).toEqual(violations.toSorted());
  const first = answer.badRequest!.fieldViolations[0]!;
  expect(first.description).not.toBe("");
  // The message and ErrorInfo name the first violation's field; never SQL or a stack.
  expect(answer.errorInfo?.metadata.field).toBe(first.field);
  expect(answer.message.startsWith(`${first.field}: `)).toBe(true);
  expect(answer.message).not.toMatch(/SELECT|INSERT|prisma|\bat .*\.(ts|js):\d+/i);
}

const UPPER = "0190A0A0-0000-7000-8000-00000000000A";
const ts = (seconds: number) => ({ json: new Date(seconds * 1000).toISOString(), grpc: { seconds: String(seconds), nanos: 0 } });
const T = ts(1_800_000_000);

const transfer = (extra: object = {}) => ({ idempotencyKey: key(), debitAccountId: fx.payer, creditAccountId: fx.payee, amount: "1", ...extra });
const leg = (extra: object = {}) => ({ debitAccountId: fx.payer, creditAccountId: fx.payee, amount: "1", ...extra });

const CASES: Case[] = [
  // Idempotency keys: 1 to 128 printable ASCII characters, no '#'.
  { name: "a key with '#'", service: "ledger", method: "Transfer", request: () => transfer({ idempotencyKey: "a#b" }), violations: [["idempotency_key", "string.pattern"]] },
  { name: "a key of 129", service: "ledger", method: "Transfer", request: () => transfer({ idempotencyKey: "k".repeat(129) }), violations: [["idempotency_key", "string.pattern"]] },
  { name: "no key", service: "identity", method: "CreateUser", request: () => ({ handle: handle() }), violations: [["idempotency_key", "string.pattern"]] },
  // UUIDs: lower-case, hyphenated.
  { name: "an upper-case id", service: "ledger", method: "GetAccount", request: () => ({ accountId: UPPER }), violations: [["account_id", "string.pattern"]] },
  { name: "an upper-case id in a list", service: "identity", method: "BatchGetUsers", request: () => ({ userIds: [fx.userId, fx.userId, UPPER] }), violations: [["user_ids[2]", "string.pattern"]] },
  { name: "a hyphenless id", service: "ledger", method: "GetHold", request: () => ({ holdId: fx.payer.replaceAll("-", "") }), violations: [["hold_id", "string.pattern"]] },
  // Amounts: int64 > 0 where the domain requires it, >= 0 where 0 means "all".
  { name: "a zero amount", service: "ledger", method: "Transfer", request: () => transfer({ amount: "0" }), violations: [["amount", "int64.gt"]] },
  { name: "a negative hold", service: "ledger", method: "CreateHold", request: () => transfer({ amount: "-5" }), violations: [["amount", "int64.gt"]] },
  { name: "a negative capture", service: "ledger", method: "CaptureHold", request: () => ({ idempotencyKey: key(), holdId: fx.payer, amount: "-1" }), violations: [["amount", "int64.gte"]] },
  { name: "a negative reversal", service: "ledger", method: "ReverseTransfer", request: () => ({ idempotencyKey: key(), transferId: fx.transferId, amount: "-1" }), violations: [["amount", "int64.gte"]] },
  { name: "a negative position", service: "ledger", method: "GetBalance", request: () => ({ accountId: fx.payer, asOfPosition: "-1" }), violations: [["as_of_position", "int64.gte"]] },
  { name: "a negative overdraft limit", service: "ledger", method: "CreateAccount", request: () => ({ idempotencyKey: key(), owner: { userId: fx.userId }, currency: "USD", policy: { allowNegative: true, overdraftLimit: "-1" } }), violations: [["policy.overdraft_limit", "int64.gte"]] },
  { name: "a hold of 30 days and 1 ms", service: "ledger", method: "CreateHold", request: () => transfer({ timeoutMs: String(30 * 86_400_000 + 1) }), violations: [["timeout_ms", "int64.gte_lte"]] },
  { name: "a version of 0", service: "identity", method: "UpdateUser", request: () => ({ idempotencyKey: key(), userId: fx.userId, version: "0", updateMask: "displayName", displayName: "x" }), grpc: () => ({ idempotencyKey: key(), userId: fx.userId, version: "0", updateMask: { paths: ["display_name"] }, displayName: "x" }), violations: [["version", "int64.gt"]] },
  { name: "event id 0", service: "audit", method: "GetEvent", request: () => ({ id: "0" }), violations: [["id", "int64.gt"]] },
  { name: "a negative from_sequence", service: "audit", method: "VerifyChain", request: () => ({ fromSequence: "-1" }), violations: [["from_sequence", "int64.gte"]] },
  { name: "max_events above 100,000", service: "audit", method: "VerifyChain", request: () => ({ maxEvents: "100001" }), violations: [["max_events", "int64.gte_lte"]] },
  // Text lengths, in characters.
  { name: "a memo of 257", service: "ledger", method: "Transfer", request: () => transfer({ memo: "m".repeat(257) }), violations: [["memo", "string.max_len"]] },
  { name: "a memo of 257 emoji", service: "ledger", method: "Transfer", request: () => transfer({ memo: "😀".repeat(257) }), violations: [["memo", "string.max_len"]] },
  { name: "a leg memo of 257", service: "ledger", method: "TransferBatch", request: () => ({ idempotencyKey: key(), legs: [leg(), leg({ memo: "m".repeat(257) })] }), violations: [["legs[1].memo", "string.max_len"]] },
  { name: "a reason of 257", service: "ledger", method: "FreezeAccount", request: () => ({ idempotencyKey: key(), accountId: fx.payer, reason: "r".repeat(257) }), violations: [["reason", "string.max_len"]] },
  { name: "a suspension reason of 257", service: "identity", method: "SuspendUser", request: () => ({ idempotencyKey: key(), userId: fx.userId, reason: "r".repeat(257) }), violations: [["reason", "string.max_len"]] },
  { name: "a label of 65", service: "ledger", method: "CreateAccount", request: () => ({ idempotencyKey: key(), owner: { userId: fx.userId }, currency: "USD", label: "l".repeat(65) }), violations: [["label", "string.max_len"]] },
  { name: "a display name of 101", service: "identity", method: "CreateUser", request: () => ({ idempotencyKey: key(), handle: handle(), displayName: "d".repeat(101) }), violations: [["display_name", "string.max_len"]] },
  { name: "a display name with a control character", service: "identity", method: "CreateUser", request: () => ({ idempotencyKey: key(), handle: handle(), displayName: "bell\u0007" }), violations: [["display_name", "string.pattern"]] },
  { name: "an empty external provider", service: "identity", method: "CreateUser", request: () => ({ idempotencyKey: key(), handle: handle(), externalIdentity: { provider: "", subject: "s" } }), violations: [["external_identity.provider", "string.min_len"]] },
  { name: "an external subject of 256", service: "identity", method: "LinkExternalIdentity", request: () => ({ idempotencyKey: key(), userId: fx.userId, externalIdentity: { provider: "p", subject: "s".repeat(256) } }), violations: [["external_identity.subject", "string.max_len"]] },
  { name: "an actor filter of 513", service: "audit", method: "ListEvents", request: () => ({ actor: "a".repeat(513) }), violations: [["actor", "string.max_len"]] },
  { name: "a resource id of 129", service: "audit", method: "Append", request: () => ({ idempotencyKey: key(), action: "test.action", resourceType: "thing", resourceId: "i".repeat(129) }), violations: [["resource_id", "string.max_len"]] },
  { name: "no resource type", service: "audit", method: "Append", request: () => ({ idempotencyKey: key(), action: "test.action", resourceType: "" }), violations: [["resource_type", "string.min_len"]] },
  { name: "a page token of 513", service: "ledger", method: "ListEntries", request: () => ({ accountId: fx.payer, pageToken: "t".repeat(513) }), violations: [["page_token", "string.max_len"]] },
  { name: "a lookup key of 161", service: "ledger", method: "GetTransfer", request: () => ({ idempotencyKey: "k".repeat(161) }), violations: [["idempotency_key", "string.max_len"]] },
  // Patterns: handle, email, currency code, handle prefix, audit action.
  { name: "a handle of 2", service: "identity", method: "CreateUser", request: () => ({ idempotencyKey: key(), handle: "ab" }), violations: [["handle", "string.pattern"]] },
  { name: "a handle starting with a digit", service: "identity", method: "GetUser", request: () => ({ handle: "1abc" }), violations: [["handle", "string.pattern"]] },
  { name: "an email with a no-break space", service: "identity", method: "CreateUser", request: () => ({ idempotencyKey: key(), handle: handle(), email: "a\u00a0b@example.com" }), violations: [["email", "string.pattern"]] },
  { name: "an email of 255", service: "identity", method: "CreateUser", request: () => ({ idempotencyKey: key(), handle: handle(), email: `${"e".repeat(243)}@example.com` }), violations: [["email", "string.max_len"]] },
  { name: "an empty email lookup", service: "identity", method: "GetUser", request: () => ({ email: "" }), violations: [["email", "string.pattern"]] },
  { name: "a lower-case currency", service: "ledger", method: "Transfer", request: () => transfer({ currency: "usd" }), violations: [["currency", "string.pattern"]] },
  { name: "a currency of 13", service: "ledger", method: "GetCurrency", request: () => ({ code: "ABCDEFGHIJKLM" }), violations: [["code", "string.pattern"]] },
  { name: "a handle prefix with '%'", service: "identity", method: "ListUsers", request: () => ({ handlePrefix: "a%" }), violations: [["handle_prefix", "string.pattern"]] },
  { name: "an upper-case action", service: "audit", method: "Append", request: () => ({ idempotencyKey: key(), action: "Login", resourceType: "session" }), violations: [["action", "string.pattern"]] },
  // Page sizes: 0 to 500 (a range's rule id names both bounds).
  { name: "a page of 501", service: "ledger", method: "ListAccounts", request: () => ({ pageSize: 501 }), violations: [["page_size", "int32.gte_lte"]] },
  { name: "a negative page", service: "identity", method: "ListUsers", request: () => ({ pageSize: -1 }), violations: [["page_size", "int32.gte_lte"]] },
  // Counts: legs 1 to 100, ids 1 to 100.
  { name: "no legs", service: "ledger", method: "TransferBatch", request: () => ({ idempotencyKey: key(), legs: [] }), violations: [["legs", "repeated.min_items"]] },
  { name: "101 legs", service: "ledger", method: "TransferBatch", request: () => ({ idempotencyKey: key(), legs: Array.from({ length: 101 }, () => leg()) }), violations: [["legs", "repeated.max_items"]] },
  { name: "101 user ids", service: "identity", method: "BatchGetUsers", request: () => ({ userIds: Array.from({ length: 101 }, () => fx.userId) }), violations: [["user_ids", "repeated.max_items"]] },
  // Enums: defined values only; a role where one is required.
  { name: "an undefined account status", service: "ledger", method: "ListAccounts", request: () => ({ status: 9 }), violations: [["status", "enum.defined_only"]] },
  { name: "an undefined user status", service: "identity", method: "ListUsers", request: () => ({ status: 9 }), violations: [["status", "enum.defined_only"]] },
  { name: "an undefined consistency", service: "ledger", method: "GetAccount", request: () => ({ accountId: fx.payer, consistency: 7 }), violations: [["consistency", "enum.defined_only"]] },
  { name: "an unspecified system role", service: "ledger", method: "ListAccounts", request: () => ({ owner: { system: "SYSTEM_ACCOUNT_UNSPECIFIED" } }), violations: [["owner.system", "enum.not_in"]] },
  // Required fields and oneofs.
  { name: "no lookup", service: "ledger", method: "GetTransfer", request: () => ({}), violations: [["lookup", "required"]] },
  { name: "no user lookup", service: "identity", method: "GetUser", request: () => ({}), violations: [["lookup", "required"]] },
  { name: "no owner", service: "ledger", method: "CreateAccount", request: () => ({ idempotencyKey: key(), currency: "USD" }), violations: [["owner", "required"]] },
  { name: "no external identity to link", service: "identity", method: "LinkExternalIdentity", request: () => ({ idempotencyKey: key(), userId: fx.userId }), violations: [["external_identity", "required"]] },
  { name: "no update mask", service: "identity", method: "UpdateUser", request: () => ({ idempotencyKey: key(), userId: fx.userId, version: "1", displayName: "x" }), violations: [["update_mask", "required"]] },
  { name: "a mask naming status", service: "identity", method: "UpdateUser", request: () => ({ idempotencyKey: key(), userId: fx.userId, version: "1", updateMask: "status" }), grpc: () => ({ idempotencyKey: key(), userId: fx.userId, version: "1", updateMask: { paths: ["status"] } }), violations: [["update_mask", "update_mask.updatable"]] },
  { name: "an empty mask", service: "identity", method: "UpdateUser", request: () => ({ idempotencyKey: key(), userId: fx.userId, version: "1", updateMask: "" }), grpc: () => ({ idempotencyKey: key(), userId: fx.userId, version: "1", updateMask: { paths: [] } }), violations: [["update_mask", "update_mask.not_empty"]] },
  // Message-level CEL rules: the violation names the field the rule blames.
  { name: "debit == credit", service: "ledger", method: "Transfer", request: () => transfer({ creditAccountId: fx.payer }), violations: [["credit_account_id", "credit_account_id.distinct"]] },
  { name: "debit == credit on a hold", service: "ledger", method: "CreateHold", request: () => transfer({ creditAccountId: fx.payer }), violations: [["credit_account_id", "credit_account_id.distinct"]] },
  { name: "debit == credit on leg 1", service: "ledger", method: "TransferBatch", request: () => ({ idempotencyKey: key(), legs: [leg(), leg({ creditAccountId: fx.payer })] }), violations: [["legs[1].credit_account_id", "credit_account_id.distinct"]] },
  { name: "an overdraft limit without allow_negative", service: "ledger", method: "CreateAccount", request: () => ({ idempotencyKey: key(), owner: { userId: fx.userId }, currency: "USD", policy: { overdraftLimit: "5" } }), violations: [["policy.overdraft_limit", "overdraft_limit.needs_allow_negative"]] },
  { name: "a default wallet of a system role", service: "ledger", method: "CreateAccount", request: () => ({ idempotencyKey: key(), owner: { system: "SYSTEM_ACCOUNT_FEES" }, currency: "USD", isDefault: true }), violations: [["is_default", "is_default.needs_user_owner"]] },
  { name: "a mask naming handle without one", service: "identity", method: "UpdateUser", request: () => ({ idempotencyKey: key(), userId: fx.userId, version: "1", updateMask: "handle" }), grpc: () => ({ idempotencyKey: key(), userId: fx.userId, version: "1", updateMask: { paths: ["handle"] } }), violations: [["handle", "handle.required_by_mask"]] },
  { name: "resource_id without resource_type", service: "audit", method: "ListEvents", request: () => ({ resourceId: "x" }), violations: [["resource_type", "resource_type.required_with_resource_id"]] },
  { name: "to_sequence before from_sequence", service: "audit", method: "VerifyChain", request: () => ({ fromSequence: "5", toSequence: "3" }), violations: [["to_sequence", "to_sequence.not_before_from_sequence"]] },
  { name: "a transfer time range ending at its start", service: "ledger", method: "ListTransfers", request: () => ({ accountId: fx.payer, startTime: T.json, endTime: T.json }), grpc: () => ({ accountId: fx.payer, startTime: T.grpc, endTime: T.grpc }), violations: [["end_time", "end_time.after_start_time"]] },
  { name: "an entry time range ending before its start", service: "ledger", method: "ListEntries", request: () => ({ accountId: fx.payer, startTime: T.json, endTime: ts(1_700_000_000).json }), grpc: () => ({ accountId: fx.payer, startTime: T.grpc, endTime: ts(1_700_000_000).grpc }), violations: [["end_time", "end_time.after_start_time"]] },
  { name: "an event time range ending at its start", service: "audit", method: "ListEvents", request: () => ({ startTime: T.json, endTime: T.json }), grpc: () => ({ startTime: T.grpc, endTime: T.grpc }), violations: [["end_time", "end_time.after_start_time"]] },
  { name: "a creation range ending at its start", service: "identity", method: "ListUsers", request: () => ({ createdAfter: T.json, createdBefore: T.json }), grpc: () => ({ createdAfter: T.grpc, createdBefore: T.grpc }), violations: [["created_before", "created_before.after_created_after"]] },
];

/** The database as fingerprinted, without the sealer's own table (it runs on its own). */
async function state(): Promise<Record<string, string>> {
  const all = await fingerprint(f.server.database);
  return Object.fromEntries(Object.entries(all).filter(([name]) => !name.includes("audit_seals")));
}

describe.each<Port>(["grpc", "connect"])("contract rules on the %s port", (port) => {
  it("every rule family refuses its input with the field path and rule id, and the database is unchanged", async () => {
    const before = await state();
    for (const c of CASES) {
      const answer = await send(port, c);
      try {
        expectRefused(answer, c.violations);
      } catch (error) {
        throw new Error(`${c.service}.${c.method}, ${c.name}: ${(error as Error).message}\nanswer: ${JSON.stringify(answer)}`);
      }
    }
    expect(await state()).toEqual(before);
  });

  it("reports every broken rule of a request together, the first one in the message", async () => {
    const before = await state();
    const request = { idempotencyKey: "a#b", debitAccountId: UPPER, creditAccountId: fx.payee, amount: "0", currency: "usd", memo: "m".repeat(257) };
    const answer = await send(port, { service: "ledger", method: "Transfer", request: () => request });
    expectRefused(answer, [
      ["idempotency_key", "string.pattern"],
      ["debit_account_id", "string.pattern"],
      ["amount", "int64.gt"],
      ["currency", "string.pattern"],
      ["memo", "string.max_len"],
    ]);
    expect(answer.message).toMatch(/^idempotency_key: .*\(and 4 more: see google\.rpc\.BadRequest\)$/);
    expect(await state()).toEqual(before);
  });

  it("a request breaking thousands of rules is still refused, listing the first that fit in 3 KiB (the trailer stays deliverable)", async () => {
    const legs = Array.from({ length: 3000 }, () => leg({ amount: "0" }));
    const answer = await send(port, { service: "ledger", method: "TransferBatch", request: () => ({ idempotencyKey: key(), legs }) });
    expect(grpc.status[answer.code]).toBe("INVALID_ARGUMENT");
    const listed = answer.badRequest!.fieldViolations;
    expect(listed.slice(0, 3).map((v) => [v.field, v.reason])).toEqual([
      ["legs", "repeated.max_items"],
      ["legs[0].amount", "int64.gt"],
      ["legs[1].amount", "int64.gt"],
    ]);
    // Listed in order, up to 3 KiB of paths, descriptions and rule ids (8 bytes of framing each): grpcio refuses trailers over 8 KiB.
    const bytes = listed.reduce((n, v) => n + Buffer.byteLength(v.field) + Buffer.byteLength(v.description) + Buffer.byteLength(v.reason) + 8, 0);
    expect(bytes).toBeLessThanOrEqual(3072);
    expect(bytes + 60).toBeGreaterThan(3072); // and no fewer than fit: one more leg's violation would not
    expect(listed.map((v) => v.field).slice(1)).toEqual(listed.slice(1).map((_, i) => `legs[${i}].amount`));
    expect(answer.message).toBe(`legs: must contain no more than 100 item(s) (and 3000 more: the first ${listed.length} are in google.rpc.BadRequest)`);
  });

  it("a batch names the failing leg in the path and in ErrorInfo.metadata.leg_index", async () => {
    const answer = await send(port, { service: "ledger", method: "TransferBatch", request: () => ({ idempotencyKey: key(), legs: [leg(), leg(), leg({ amount: "0" })] }) });
    expectRefused(answer, [["legs[2].amount", "int64.gt"]]);
    expect(answer.errorInfo?.metadata.leg_index).toBe("2");
  });

  it("counts characters, not UTF-16 units: a memo of 256 emoji is accepted, 257 are not", async () => {
    const emoji = "😀";
    expect(emoji.length).toBe(2);
    const refused = await send(port, { service: "ledger", method: "Transfer", request: () => transfer({ memo: emoji.repeat(257) }) });
    expectRefused(refused, [["memo", "string.max_len"]]);
    const request = transfer({ memo: emoji.repeat(256) });
    const accepted = await send(port, { service: "ledger", method: "Transfer", request: () => request });
    expect(grpc.status[accepted.code]).toBe("OK");
    const stored = await f.call("ledger", "GetTransfer", { idempotencyKey: request.idempotencyKey });
    expect(stored.transfer.memo).toBe(emoji.repeat(256));
  });
});

describe("message-level rules", () => {
  it("each CEL rule's id starts with a field of its message, the field its violation names", () => {
    const ids: string[] = [];
    for (const file of [file_aevon_ledger_v1_ledger, file_aevon_identity_v1_identity, file_aevon_audit_v1_audit]) {
      for (const desc of file.messages) {
        if (!hasOption(desc, messageRules)) continue;
        for (const rule of getOption(desc, messageRules).cel) {
          ids.push(rule.id);
          expect(desc.fields.map((field) => field.name), `${desc.typeName}: ${rule.id}`).toContain(rule.id.split(".")[0]);
        }
      }
    }
    expect(ids).toContain("credit_account_id.distinct");
  });
});
