/**
 * Hostile input, the way a foreign client sends it: @grpc/grpc-js with only
 * the .proto files, raw JSON on the Connect port, raw bytes on the gRPC port.
 * Every refusal names its field and changes nothing in the database.
 */
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { handle, key, useForeignFixture, type ServiceName } from "../support/foreign-fixture.js";
import { answerOf, connectJson, expectInvalid, expectNoChange } from "../support/hostile.js";

const f = useForeignFixture();
const { fx, call } = f;

const NUL = "a\u0000b";

describe("U+0000 in any string field", () => {
  // [service, method, request, field path]: each request is valid but for its NUL.
  const cases: [ServiceName, string, () => object, string][] = [
    ["ledger", "GetTransfer", () => ({ idempotencyKey: NUL }), "idempotency_key"],
    ["ledger", "GetCurrency", () => ({ code: "US\u0000D" }), "code"],
    ["ledger", "ListAccounts", () => ({ currency: "US\u0000D" }), "currency"],
    ["ledger", "CreateAccount", () => ({ idempotencyKey: key(), owner: { userId: fx.userId }, currency: "USD", label: NUL }), "label"],
    ["ledger", "FreezeAccount", () => ({ idempotencyKey: key(), accountId: fx.payee, reason: NUL }), "reason"],
    ["ledger", "Transfer", () => ({ idempotencyKey: key(), debitAccountId: fx.payer, creditAccountId: fx.payee, amount: "1", memo: NUL }), "memo"],
    ["ledger", "TransferBatch", () => ({ idempotencyKey: key(), legs: [{ debitAccountId: fx.payer, creditAccountId: fx.payee, amount: "1", memo: NUL }] }), "legs[0].memo"],
    ["ledger", "CreateHold", () => ({ idempotencyKey: key(), debitAccountId: fx.payer, creditAccountId: fx.payee, amount: "1", memo: NUL }), "memo"],
    ["ledger", "ReverseTransfer", () => ({ idempotencyKey: key(), transferId: fx.transferId, amount: "1", memo: NUL }), "memo"],
    ["ledger", "Transfer", () => ({ idempotencyKey: `k${NUL}`, debitAccountId: fx.payer, creditAccountId: fx.payee, amount: "1" }), "idempotency_key"],
    ["identity", "CreateUser", () => ({ idempotencyKey: key(), handle: handle(), displayName: NUL }), "display_name"],
    ["identity", "CreateUser", () => ({ idempotencyKey: key(), handle: handle(), email: "a\u0000b@example.com" }), "email"],
    ["identity", "CreateUser", () => ({ idempotencyKey: key(), handle: handle(), externalIdentity: { provider: "https://idp.example", subject: NUL } }), "external_identity.subject"],
    ["identity", "GetUser", () => ({ handle: "ali\u0000ce" }), "handle"],
    ["identity", "ListUsers", () => ({ handlePrefix: "ab\u0000" }), "handle_prefix"],
    ["identity", "UpdateUser", () => ({ idempotencyKey: key(), userId: fx.userId, version: fx.version, updateMask: { paths: ["display_name"] }, displayName: NUL }), "display_name"],
    ["identity", "UpdateUser", () => ({ idempotencyKey: key(), userId: fx.userId, version: fx.version, updateMask: { paths: ["handle"] }, handle: `x${NUL}yz` }), "handle"],
    ["identity", "UpdateUser", () => ({ idempotencyKey: key(), userId: fx.userId, version: fx.version, updateMask: { paths: ["email"] }, email: `${NUL}@example.com` }), "email"],
    ["identity", "UpdateUser", () => ({ idempotencyKey: key(), userId: fx.userId, version: fx.version, updateMask: { paths: [`email${NUL}`] }, email: "" }), "update_mask.paths[0]"],
    ["identity", "SuspendUser", () => ({ idempotencyKey: key(), userId: fx.userId, reason: NUL }), "reason"],
    ["identity", "DeleteUser", () => ({ idempotencyKey: key(), userId: fx.userId, reason: NUL }), "reason"],
    ["identity", "LinkExternalIdentity", () => ({ idempotencyKey: key(), userId: fx.userId, externalIdentity: { provider: "https://idp.example", subject: NUL } }), "external_identity.subject"],
    ["audit", "ListEvents", () => ({ actor: NUL }), "actor"],
    ["audit", "ListEvents", () => ({ action: NUL }), "action"],
    ["audit", "ListEvents", () => ({ resourceType: NUL }), "resource_type"],
    ["audit", "ListEvents", () => ({ resourceType: "user", resourceId: NUL }), "resource_id"],
    ["audit", "Append", () => ({ idempotencyKey: key(), action: "aegis.login", resourceType: "session", resourceId: NUL }), "resource_id"],
    ["audit", "Append", () => ({ idempotencyKey: key(), action: "aegis.login", resourceType: "session", resourceId: "s1", payload: { fields: { note: { stringValue: NUL } } } }), 'payload["note"]'],
    ["audit", "Append", () => ({ idempotencyKey: key(), action: "aegis.login", resourceType: "session", resourceId: "s1", payload: { fields: { [NUL]: { stringValue: "x" } } } }), "payload (a key)"],
    ["audit", "Append", () => ({ idempotencyKey: key(), action: "aegis.login", resourceType: "session", resourceId: "s1", payload: { fields: { list: { listValue: { values: [{ numberValue: 1 }, { structValue: { fields: { deep: { stringValue: NUL } } } }] } } } } }), 'payload["list"][1]["deep"]'],
  ];

  it("a batch leg's NUL names the leg in ErrorInfo, as every other leg failure does", async () => {
    const leg = { debitAccountId: fx.payer, creditAccountId: fx.payee, amount: "1" };
    const answer = await answerOf(call("ledger", "TransferBatch", { idempotencyKey: key(), legs: [leg, { ...leg, memo: `x${NUL}` }] }));
    expectInvalid(answer, "legs[1].memo");
    expect(answer.errorInfo?.metadata).toMatchObject({ field: "legs[1].memo", leg_index: "1" });
  });

  it("covers at least 11 RPCs", () => {
    expect(new Set(cases.map(([s, m]) => `${s}.${m}`)).size).toBeGreaterThanOrEqual(11);
  });

  it.each(cases.map(([service, method, request, field]) => ({ service, method, request, field })))(
    "$service $method: $field is INVALID_ARGUMENT naming it, nothing written",
    async ({ service, method, request, field }) => {
      await expectNoChange(f.server.database, async () => {
        const answer = await answerOf(call(service, method, request()));
        expectInvalid(answer, field);
        // The check's stable id, as the contract's rules give theirs.
        expect(answer.badRequest?.fieldViolations[0]?.reason).toBe("aevon.string.no_nul");
      });
    },
  );
});

describe("a lone surrogate over Connect JSON", () => {
  // Raw JSON text as curl would send it: the escape `\ud800` is JSON for a lone surrogate.
  // A typed string field is refused by the protobuf JSON decoder (its message names the field);
  // google.protobuf.Struct carries any JSON, so the service's own check names the path.
  const decoded: [string, () => string, string][] = [
    ["/aevon.identity.v1.IdentityService/CreateUser", () => `{"idempotencyKey":"${key()}","handle":"${handle()}","displayName":"x\\ud800y"}`, "aevon.identity.v1.CreateUserRequest.display_name"],
    ["/aevon.identity.v1.IdentityService/CreateUser", () => `{"idempotencyKey":"${key()}","handle":"${handle()}","email":"\\udc00@example.com"}`, "aevon.identity.v1.CreateUserRequest.email"],
    ["/aevon.ledger.v1.LedgerService/Transfer", () => `{"idempotencyKey":"${key()}","debitAccountId":"${fx.payer}","creditAccountId":"${fx.payee}","amount":"1","memo":"\\ud83d"}`, "aevon.ledger.v1.TransferRequest.memo"],
    ["/aevon.audit.v1.AuditService/ListEvents", () => `{"actor":"svc\\udfff"}`, "aevon.audit.v1.ListEventsRequest.actor"],
  ];
  it.each(decoded.map(([path, body, field]) => ({ path, body, field })))("$path: INVALID_ARGUMENT naming $field", async ({ path, body, field }) => {
    const answer = await expectNoChange(f.server.database, () => connectJson(f.server.connectBaseUrl, path, body()));
    expect(grpc.status[answer.code]).toBe("INVALID_ARGUMENT");
    expect(answer.message).toContain(field);
  });

  const checked: [() => string, string][] = [
    [() => `{"idempotencyKey":"${key()}","action":"a.b","resourceType":"t","resourceId":"r","payload":{"k\\ud800":1}}`, "payload (a key)"],
    [() => `{"idempotencyKey":"${key()}","action":"a.b","resourceType":"t","resourceId":"r","payload":{"k":"\\udc00"}}`, 'payload["k"]'],
    [() => `{"idempotencyKey":"${key()}","action":"a.b","resourceType":"t","resourceId":"r","payload":{"k":[{"x":"ok"},"\\ud800\\ud800"]}}`, 'payload["k"][1]'],
    // A key JavaScript objects take as their prototype: refused, never dropped in silence (or INTERNAL, for null).
    [() => `{"idempotencyKey":"${key()}","action":"a.b","resourceType":"t","resourceId":"r","payload":{"__proto__":null,"kept":1}}`, 'payload["__proto__"]'],
    [() => `{"idempotencyKey":"${key()}","action":"a.b","resourceType":"t","resourceId":"r","payload":{"kept":1,"__proto__":"text"}}`, 'payload["__proto__"]'],
    [() => `{"idempotencyKey":"${key()}","action":"a.b","resourceType":"t","resourceId":"r","payload":{"k":{"__proto__":{"x":1}}}}`, 'payload["k"]["__proto__"]'],
  ];
  it.each(checked.map(([body, field]) => ({ body, field })))("Append $field: INVALID_ARGUMENT naming it", async ({ body, field }) => {
    const path = "/aevon.audit.v1.AuditService/Append";
    await expectNoChange(f.server.database, async () => {
      const answer = await connectJson(f.server.connectBaseUrl, path, body());
      expectInvalid(answer, field);
      expect(answer.badRequest?.fieldViolations[0]?.reason).toBe(field.includes("__proto__") ? "aevon.key.reserved" : "aevon.string.valid_unicode");
    });
  });

  it("a surrogate pair (an emoji) is fine", async () => {
    const h = handle();
    const res = await connectJson(f.server.connectBaseUrl, "/aevon.identity.v1.IdentityService/CreateUser", `{"idempotencyKey":"${key()}","handle":"${h}","displayName":"\\ud83d\\ude00"}`);
    expect(res.code).toBe(0);
    expect((await call("identity", "GetUser", { handle: h })).user.displayName).toBe("😀");
  });
});

describe("out-of-range google.protobuf.Timestamp", () => {
  const fields: [string, string, (t: object) => object, string][] = [
    ["ledger", "ListEntries", (t) => ({ accountId: fx.payer, startTime: t }), "start_time"],
    ["ledger", "ListEntries", (t) => ({ accountId: fx.payer, endTime: t }), "end_time"],
    ["ledger", "ListTransfers", (t) => ({ accountId: fx.payer, startTime: t }), "start_time"],
    ["ledger", "ListTransfers", (t) => ({ accountId: fx.payer, endTime: t }), "end_time"],
    ["ledger", "GetBalance", (t) => ({ accountId: fx.payer, asOfTime: t }), "as_of_time"],
    ["audit", "ListEvents", (t) => ({ startTime: t }), "start_time"],
    ["audit", "ListEvents", (t) => ({ endTime: t }), "end_time"],
    ["identity", "ListUsers", (t) => ({ createdAfter: t }), "created_after"],
    ["identity", "ListUsers", (t) => ({ createdBefore: t }), "created_before"],
  ];
  const values: [string, object, string][] = [
    ["seconds 1e15", { seconds: "1000000000000000", nanos: 0 }, ""],
    ["seconds int64 max", { seconds: "9223372036854775807", nanos: 0 }, ""],
    ["seconds int64 min", { seconds: "-9223372036854775808", nanos: 0 }, ""],
    ["seconds just before 0001-01-01", { seconds: "-62135596801", nanos: 0 }, ""],
    ["seconds just after 9999-12-31T23:59:59", { seconds: "253402300800", nanos: 0 }, ""],
    ["nanos -1", { seconds: "0", nanos: -1 }, ".nanos"],
    ["nanos 1e9", { seconds: "0", nanos: 1_000_000_000 }, ".nanos"],
  ];
  const cases = fields.flatMap(([service, method, build, field]) => values.map(([label, t, suffix]) => ({ service, method, build, field, label, t, path: field + suffix })));
  it.each(cases)("$method $field, $label: INVALID_ARGUMENT naming $path", async ({ service, method, build, t, path }) => {
    expectInvalid(await answerOf(call(service as ServiceName, method, build(t))), path);
  });

  it("the first and last instants a Timestamp can hold are accepted", async () => {
    const first = { seconds: "-62135596800", nanos: 0 };
    const last = { seconds: "253402300799", nanos: 999_999_999 };
    expect((await call("identity", "ListUsers", { createdAfter: first, createdBefore: last })).users.length).toBeGreaterThan(0);
    expect((await call("audit", "ListEvents", { startTime: first, endTime: last })).events.length).toBeGreaterThan(0);
    expect((await call("ledger", "ListEntries", { accountId: fx.payer, startTime: first, endTime: last })).entries.length).toBe(1);
    expect((await call("ledger", "ListTransfers", { accountId: fx.payer, startTime: first, endTime: last })).transfers.length).toBe(1);
    expect((await call("ledger", "GetBalance", { accountId: fx.payer, asOfTime: last })).balance.posted).toBe("10000");
    expect((await call("ledger", "GetBalance", { accountId: fx.payer, asOfTime: first })).balance.posted).toBe("0");
  });
});

describe("ListUsers handle_prefix is matched literally", () => {
  const handles = ["abc_1", "abc_2", "abcx1", "abcxy_"];
  const listed = async (handlePrefix: string) =>
    ((await call("identity", "ListUsers", { handlePrefix, pageSize: 500 })).users as { handle: string }[]).map((u) => u.handle).sort();

  it("'abc_' finds abc_… only, '_' finds nothing, 'ABC_' is folded", async () => {
    for (const h of handles) await call("identity", "CreateUser", { idempotencyKey: key(), handle: h });
    expect(await listed("abc_")).toEqual(["abc_1", "abc_2"]);
    expect(await listed("ABC_")).toEqual(["abc_1", "abc_2"]);
    expect(await listed("abc")).toEqual(handles);
    expect(await listed("abcxy_")).toEqual(["abcxy_"]);
    // Handles start with a letter: a literal "_" prefix matches none (a LIKE wildcard would match all).
    expect(await listed("_")).toEqual([]);
  });

  it.each(["%", "abc%", "\\", "a\\_", "abc "])("%j is refused naming handle_prefix", async (handlePrefix) => {
    expectInvalid(await answerOf(call("identity", "ListUsers", { handlePrefix })), "handle_prefix");
  });
});

describe("strings near the 1 MiB message limit", () => {
  const nearLimit = () => "a".repeat(f.server.config.maxReceiveMessageBytes - 64);
  it.each([
    [{ actor: "" }, "actor"],
    [{ action: "" }, "action"],
    [{ resourceType: "" }, "resource_type"],
    [{ resourceType: "user", resourceId: "" }, "resource_id"],
    [{ pageToken: "" }, "page_token"],
  ])("a ListEvents %s just under 1 MiB is refused by its own bound, naming %s", async (request, field) => {
    const big = Object.fromEntries(Object.entries(request).map(([k, v]) => [k, v === "" ? nearLimit() : v]));
    expectInvalid(await answerOf(call("audit", "ListEvents", big)), field);
  });

  it.each([
    ["identity", "ListUsers", {}],
    ["ledger", "ListAccounts", {}],
    ["ledger", "ListEntries", { accountId: "" }],
  ] as const)("a %s.%s page_token just under 1 MiB is INVALID_ARGUMENT naming page_token", async (service, method, request) => {
    const accountId = "accountId" in request ? fx.payer : undefined;
    expectInvalid(await answerOf(call(service, method, { ...request, accountId, pageToken: nearLimit() })), "page_token");
  });

  it("a request over 1 MiB is RESOURCE_EXHAUSTED, on a write too, and changes nothing", async () => {
    const over = "a".repeat(f.server.config.maxReceiveMessageBytes + 1);
    expect(grpc.status[(await answerOf(call("audit", "ListEvents", { actor: over }))).code]).toBe("RESOURCE_EXHAUSTED");
    const write = { idempotencyKey: key(), debitAccountId: fx.payer, creditAccountId: fx.payee, amount: "1", memo: over };
    const answer = await expectNoChange(f.server.database, () => answerOf(call("ledger", "Transfer", write)));
    expect(grpc.status[answer.code]).toBe("RESOURCE_EXHAUSTED");
  });
});

describe("handles, emails and display names are taken as sent", () => {
  it.each(["\ufeffalice", " alice", "alice ", " alice ", "al ice", "alice\t", "ａlice"])("handle %j is refused naming handle", async (h) => {
    await expectNoChange(f.server.database, async () =>
      expectInvalid(await answerOf(call("identity", "CreateUser", { idempotencyKey: key(), handle: h })), "handle"),
    );
  });

  it("'Alice' is accepted, stored as 'alice' and found in any case", async () => {
    const { user } = await call("identity", "CreateUser", { idempotencyKey: key(), handle: "Alice" });
    expect(user.handle).toBe("alice");
    expect((await call("identity", "GetUser", { handle: "ALICE" })).user.id).toBe(user.id);
    const [row] = (await f.server.database.sql<{ handle: string }>("SELECT handle FROM users WHERE id = $1", [user.id])).rows;
    expect(row!.handle).toBe("alice");
  });

  it("an email with surrounding spaces is refused; a display name keeps its spaces", async () => {
    expectInvalid(await answerOf(call("identity", "CreateUser", { idempotencyKey: key(), handle: handle(), email: " a@example.com" })), "email");
    const { user } = await call("identity", "CreateUser", { idempotencyKey: key(), handle: handle(), displayName: "  Bob  " });
    expect((await call("identity", "GetUser", { userId: user.id })).user.displayName).toBe("  Bob  ");
  });
});

describe("lengths count characters (code points), not UTF-16 units", () => {
  const emoji = (n: number) => "😀".repeat(n);

  it("display_name: 50 emoji + 50 letters (150 UTF-16 units) round-trips; 100 emoji too; 101 emoji are refused", async () => {
    for (const displayName of [emoji(50) + "a".repeat(50), emoji(100)]) {
      const { user } = await call("identity", "CreateUser", { idempotencyKey: key(), handle: handle(), displayName });
      expect((await call("identity", "GetUser", { userId: user.id })).user.displayName).toBe(displayName);
    }
    await expectNoChange(f.server.database, async () =>
      expectInvalid(await answerOf(call("identity", "CreateUser", { idempotencyKey: key(), handle: handle(), displayName: emoji(101) })), "display_name"),
    );
  });

  it("memo: 256 emoji are stored as sent; 257 are refused", async () => {
    const transfer = (memo: string) => call("ledger", "Transfer", { idempotencyKey: key(), debitAccountId: fx.payer, creditAccountId: fx.payee, amount: "1", memo });
    const { transfer: t } = await transfer(emoji(256));
    expect((await call("ledger", "GetTransfer", { transferId: t.id })).transfer.memo).toBe(emoji(256));
    await expectNoChange(f.server.database, async () => expectInvalid(await answerOf(transfer(emoji(257))), "memo"));
  });

  it("label: 64 emoji are stored as sent; 65 are refused", async () => {
    const open = (label: string) => call("ledger", "CreateAccount", { idempotencyKey: key(), owner: { userId: fx.userId }, currency: "EUR", label });
    const { account } = await open(emoji(64));
    expect((await call("ledger", "GetAccount", { accountId: account.id })).account.label).toBe(emoji(64));
    await expectNoChange(f.server.database, async () => expectInvalid(await answerOf(open(emoji(65))), "label"));
  });

  it("reason: 256 emoji are accepted (and recorded); 257 are refused", async () => {
    const { account } = await call("ledger", "CreateAccount", { idempotencyKey: key(), owner: { userId: fx.userId }, currency: "EUR" });
    const freeze = (reason: string) => call("ledger", "FreezeAccount", { idempotencyKey: key(), accountId: account.id, reason });
    await expectNoChange(f.server.database, async () => expectInvalid(await answerOf(freeze(emoji(257))), "reason"));
    expect((await freeze(emoji(256))).account.status).toBe("ACCOUNT_STATUS_FROZEN");
    const { events } = await call("audit", "ListEvents", { resourceType: "account", resourceId: account.id, action: "ledger.account.freeze" });
    expect(events[0].payload.fields.reason.stringValue).toBe(emoji(256));
  });
});

describe("call metadata is checked like a field", () => {
  const metadata = (entries: Record<string, string>) => {
    const m = new grpc.Metadata();
    for (const [k, v] of Object.entries(entries)) m.set(k, v);
    return m;
  };
  const createUser = (m: grpc.Metadata) => call("identity", "CreateUser", { idempotencyKey: key(), handle: handle() }, m);

  it.each([
    ["x-actor", "s".repeat(300)],
    ["x-actor", "svc a"],
    ["x-actor", ""],
    ["x-request-id", "r".repeat(200)],
    ["x-request-id", "req 1"],
  ])("%s %j is INVALID_ARGUMENT naming it, nothing written", async (name, value) => {
    await expectNoChange(f.server.database, async () => expectInvalid(await answerOf(createUser(metadata({ [name]: value }))), name));
  });

  it.each([["x-actor"], ["x-request-id"]])("non-ASCII %s (over Connect) is INVALID_ARGUMENT naming it", async (name) => {
    const body = `{"idempotencyKey":"${key()}","handle":"${handle()}"}`;
    const answer = await expectNoChange(f.server.database, () =>
      connectJson(f.server.connectBaseUrl, "/aevon.identity.v1.IdentityService/CreateUser", body, { [name]: "s\u00e9rvice" }),
    );
    expectInvalid(answer, name);
  });

  it("a 150-character SPIFFE id in x-actor is accepted and recorded as the event's on_behalf_of (the actor is the principal)", async () => {
    const prefix = "spiffe://prod.aevon.internal/ns/payments/sa/";
    const actor = prefix + "settlement-worker-".padEnd(150 - prefix.length, "x");
    expect(actor).toHaveLength(150);
    const { user } = await createUser(metadata({ "x-actor": actor, "x-request-id": "req-spiffe-1" }));
    const { events } = await call("audit", "ListEvents", { resourceType: "user", resourceId: user.id });
    expect(events.map((e: { actor: string; onBehalfOf: string; requestId: string }) => [e.actor, e.onBehalfOf, e.requestId])).toEqual([
      ["anonymous", actor, "req-spiffe-1"],
    ]);
  });
});
