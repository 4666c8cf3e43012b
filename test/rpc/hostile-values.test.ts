/**
 * Hostile values a foreign client can send (companion of
 * hostile-input.test.ts, which covers text and metadata): unknown
 * currencies, int64 extremes, forged page tokens, undecodable or
 * compressed bytes, and what a google.protobuf.Struct can carry.
 * Every refusal is a documented code and changes nothing it should not.
 */
import { gzipSync } from "node:zlib";
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { handle, key, useForeignFixture } from "../support/foreign-fixture.js";
import { answerOf, connectJson, expectInvalid, expectNoChange, fingerprint, rawUnary } from "../support/hostile.js";
import { concat, tag, varint } from "../support/fuzz/wire.js";
import { expectBooksBalance } from "../support/ledger.js";

const f = useForeignFixture();
const { fx, call } = f;

const INT64_MAX = "9223372036854775807";
const INT64_MIN = "-9223372036854775808";
const codeOf = (a: { code: number }) => grpc.status[a.code];

describe("currencies", () => {
  const transfer = (currency: string) => ({ idempotencyKey: key(), debitAccountId: fx.payer, creditAccountId: fx.payee, amount: "1", currency });

  it("an unknown currency is NOT_FOUND naming currency, on Transfer, TransferBatch and CreateHold; nothing is stored", async () => {
    const missing = async (method: string, request: object, field: string) => {
      const answer = await expectNoChange(f.server.database, () => answerOf(call("ledger", method, request)));
      expect({ code: codeOf(answer), reason: answer.errorInfo?.reason, field: answer.errorInfo?.metadata.field }).toEqual({ code: "NOT_FOUND", reason: "NOT_FOUND", field });
      return answer;
    };
    await missing("Transfer", transfer("ZZZ"), "currency");
    await missing("CreateHold", transfer("ZZZ"), "currency");
    const leg = { debitAccountId: fx.payer, creditAccountId: fx.payee, amount: "1" };
    const batch = await missing("TransferBatch", { idempotencyKey: key(), legs: [{ ...leg, currency: "USD" }, { ...leg, currency: "ZZZ" }] }, "legs[1].currency");
    expect(batch.errorInfo?.metadata.leg_index).toBe("1");
  });

  it("an existing but different currency is FAILED_PRECONDITION CURRENCY_MISMATCH; no transfer is written", async () => {
    const answer = await expectNoChange(f.server.database, () => answerOf(call("ledger", "Transfer", transfer("EUR"))), { keys: false });
    expect({ code: codeOf(answer), reason: answer.errorInfo?.reason }).toEqual({ code: "FAILED_PRECONDITION", reason: "CURRENCY_MISMATCH" });
  });

  it("a malformed code is INVALID_ARGUMENT naming currency", async () => {
    for (const currency of ["usd", "U", "USD ", "€UR"]) {
      await expectNoChange(f.server.database, async () => expectInvalid(await answerOf(call("ledger", "Transfer", transfer(currency))), "currency"));
    }
  });
});

describe("int64 extremes", () => {
  it("funds are checked before overflow; a credit overflow from an unbounded system account is OUT_OF_RANGE", async () => {
    const aev = async (system: string) => (await call("ledger", "ListAccounts", { owner: { system }, currency: "AEV" })).accounts[0].id as string;
    const open = async () => (await call("ledger", "CreateAccount", { idempotencyKey: key(), owner: { userId: fx.userId }, currency: "AEV" })).account.id as string;
    const [treasury, issuance, full, wallet] = [await aev("SYSTEM_ACCOUNT_TREASURY"), await aev("SYSTEM_ACCOUNT_ISSUANCE"), await open(), await open()];
    const move = (debitAccountId: string, creditAccountId: string, amount: string) =>
      call("ledger", "Transfer", { idempotencyKey: key(), debitAccountId, creditAccountId, amount });
    await move(treasury, full, INT64_MAX);
    await move(issuance, wallet, "100");
    const refused = async (request: Promise<unknown>) => {
      const answer = await expectNoChange(f.server.database, () => answerOf(request), { keys: false });
      return { code: codeOf(answer), reason: answer.errorInfo?.reason, field: answer.errorInfo?.metadata.field };
    };

    expect(await refused(move(issuance, full, "1"))).toEqual({ code: "OUT_OF_RANGE", reason: "AMOUNT_OVERFLOW", field: "amount" });
    // Both too little money and a credit overflow: the funds decide.
    expect(await refused(move(wallet, full, INT64_MAX))).toEqual({ code: "FAILED_PRECONDITION", reason: "INSUFFICIENT_FUNDS", field: "amount" });
    expect(await refused(move(fx.payer, fx.payee, INT64_MAX))).toEqual({ code: "FAILED_PRECONDITION", reason: "INSUFFICIENT_FUNDS", field: "amount" });
    const hold = call("ledger", "CreateHold", { idempotencyKey: key(), debitAccountId: wallet, creditAccountId: full, amount: INT64_MAX });
    expect(await refused(hold)).toEqual({ code: "FAILED_PRECONDITION", reason: "INSUFFICIENT_FUNDS", field: "amount" });
    await expectBooksBalance(f.server.database);
  });

  it.each([
    ["Transfer amount 0", "ledger", "Transfer", () => ({ idempotencyKey: key(), debitAccountId: fx.payer, creditAccountId: fx.payee, amount: "0" }), "amount"],
    ["Transfer amount int64 min", "ledger", "Transfer", () => ({ idempotencyKey: key(), debitAccountId: fx.payer, creditAccountId: fx.payee, amount: INT64_MIN }), "amount"],
    ["ReverseTransfer amount -1", "ledger", "ReverseTransfer", () => ({ idempotencyKey: key(), transferId: fx.transferId, amount: "-1" }), "amount"],
    ["CaptureHold amount int64 min", "ledger", "CaptureHold", () => ({ idempotencyKey: key(), holdId: fx.transferId, amount: INT64_MIN }), "amount"],
    ["CreateHold timeout_ms int64 max", "ledger", "CreateHold", () => ({ idempotencyKey: key(), debitAccountId: fx.payer, creditAccountId: fx.payee, amount: "1", timeoutMs: INT64_MAX }), "timeout_ms"],
    ["CreateHold timeout_ms -1", "ledger", "CreateHold", () => ({ idempotencyKey: key(), debitAccountId: fx.payer, creditAccountId: fx.payee, amount: "1", timeoutMs: "-1" }), "timeout_ms"],
    ["CreateAccount overdraft int64 min", "ledger", "CreateAccount", () => ({ idempotencyKey: key(), owner: { userId: fx.userId }, currency: "USD", policy: { allowNegative: true, overdraftLimit: INT64_MIN } }), "policy.overdraft_limit"],
    ["GetBalance as_of_position int64 min", "ledger", "GetBalance", () => ({ accountId: fx.payer, asOfPosition: INT64_MIN }), "as_of_position"],
    ["UpdateUser version int64 min", "identity", "UpdateUser", () => ({ idempotencyKey: key(), userId: fx.userId, version: INT64_MIN, updateMask: { paths: ["display_name"] } }), "version"],
    ["GetEvent id int64 min", "audit", "GetEvent", () => ({ id: INT64_MIN }), "id"],
    ["ListAccounts page_size int32 max", "ledger", "ListAccounts", () => ({ pageSize: 2147483647 }), "page_size"],
    ["ListEvents page_size -1", "audit", "ListEvents", () => ({ pageSize: -1 }), "page_size"],
  ] as const)("%s is INVALID_ARGUMENT naming it, nothing written", async (_label, service, method, request, field) => {
    await expectNoChange(f.server.database, async () => expectInvalid(await answerOf(call(service, method, request())), field));
  });

  it("int64 max where any count is allowed is answered, not INTERNAL", async () => {
    expect((await call("ledger", "GetBalance", { accountId: fx.payer, asOfPosition: INT64_MAX })).accountId).toBe(fx.payer);
    expect(codeOf(await answerOf(call("audit", "GetEvent", { id: INT64_MAX })))).toBe("NOT_FOUND");
    expect((await call("audit", "VerifyChain", { fromSequence: INT64_MAX, toSequence: INT64_MAX })).ok).toBe(false);
  });

  it("an int64 beyond its range over Connect JSON is INVALID_ARGUMENT naming the field", async () => {
    for (const amount of ['"9223372036854775808"', '"-9223372036854775809"', "1e400", '"1.5"']) {
      const body = `{"idempotencyKey":"${key()}","debitAccountId":"${fx.payer}","creditAccountId":"${fx.payee}","amount":${amount}}`;
      const answer = await expectNoChange(f.server.database, () => connectJson(f.server.connectBaseUrl, "/aevon.ledger.v1.LedgerService/Transfer", body));
      expect(codeOf(answer)).toBe("INVALID_ARGUMENT");
      expect(answer.message).toContain("aevon.ledger.v1.TransferRequest.amount");
    }
  });
});

describe("page tokens are checked, not trusted", () => {
  // A token is base64url JSON {c: cursor, f: filter fingerprint}: a client can read it and change the cursor.
  const forged = (token: string, cursor: unknown) => {
    const parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { c: unknown; f: string };
    return Buffer.from(JSON.stringify({ ...parsed, c: cursor })).toString("base64url");
  };
  const cases = [
    ["ledger", "ListAccounts", () => ({ pageSize: 1 }), ["not-a-uuid", "", "FFFFFFFF-0000-7000-8000-000000000000"]],
    ["ledger", "ListEntries", () => ({ accountId: fx.payer, pageSize: 1 }), ["abc", "", "1e3", "99999999999999999999", "-1"]],
    ["ledger", "ListTransfers", () => ({ accountId: fx.payer, pageSize: 1 }), ["abc", "99999999999999999999"]],
    ["audit", "ListEvents", () => ({ pageSize: 1 }), ["abc", "99999999999999999999"]],
    ["identity", "ListUsers", () => ({ pageSize: 1 }), ["abc", "00000000-0000-0000-0000-00000000000G"]],
  ] as const;

  it.each(cases)("%s.%s: a forged cursor is INVALID_ARGUMENT naming page_token", async (service, method, request, cursors) => {
    // A second entry on the payer and a second user, so every listing has a second page.
    await call("ledger", "Transfer", { idempotencyKey: key(), debitAccountId: fx.payer, creditAccountId: fx.payee, amount: "1" });
    await call("identity", "CreateUser", { idempotencyKey: key(), handle: handle() });
    const first = await call(service, method, request());
    expect(first.nextPageToken).not.toBe("");
    for (const cursor of cursors) {
      expectInvalid(await answerOf(call(service, method, { ...request(), pageToken: forged(first.nextPageToken, cursor) })), "page_token");
    }
  });

  it("a token of one listing is refused by every other (ListEntries and ListTransfers share the journal's)", async () => {
    await call("identity", "CreateUser", { idempotencyKey: key(), handle: handle() });
    await call("ledger", "Transfer", { idempotencyKey: key(), debitAccountId: fx.payer, creditAccountId: fx.payee, amount: "1" });
    const unfiltered = cases.filter(([, method]) => method !== "ListEntries" && method !== "ListTransfers");
    const tokens = await Promise.all(unfiltered.map(async ([service, method, request]) => [method, (await call(service, method, request())).nextPageToken as string] as const));
    let refused = 0;
    for (const [issuer, token] of tokens) {
      expect(token, issuer).not.toBe("");
      for (const [service, method, request] of unfiltered) {
        if (method === issuer) continue;
        expectInvalid(await answerOf(call(service, method, { ...request(), pageToken: token })), "page_token");
        refused++;
      }
    }
    expect(refused).toBe(unfiltered.length * (unfiltered.length - 1));
    const journal = (await call("ledger", "ListEntries", { accountId: fx.payer, pageSize: 1 })).nextPageToken;
    expect((await call("ledger", "ListTransfers", { accountId: fx.payer, pageSize: 1, pageToken: journal })).transfers).toHaveLength(1);
  });

  it.each(cases)("%s.%s: a token that is not JSON of ours is INVALID_ARGUMENT naming page_token", async (service, method, request) => {
    const tokens = ["null", "1", "[]", '"c"', '{"c":1,"f":"x"}', "{"].map((json) => Buffer.from(json).toString("base64url"));
    for (const pageToken of [...tokens, "!!!", "%00"]) {
      expectInvalid(await answerOf(call(service, method, { ...request(), pageToken })), "page_token");
    }
  });
});

describe("undecodable protobuf bytes", () => {
  const garbage: [string, number[]][] = [
    ["a length beyond the message", [0x0a, 0x05, 0x41]],
    ["field number 0", [0x02, 0x00]],
    ["wire type 7", [0x0f, 0x00]],
    ["invalid UTF-8 in a string field", [0x0a, 0x02, 0xc3, 0x28]],
    ["a tag that overflows uint32", [0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
  ];

  it.each(garbage)("%s: INTERNAL 'Error deserializing request' (gRPC's code for it), nothing written, still serving", async (_label, bytes) => {
    const raw = new grpc.Client(f.server.grpcAddress, grpc.credentials.createInsecure());
    try {
      const before = await fingerprint(f.server.database, ["audit_seals"]);
      for (const path of ["/aevon.ledger.v1.LedgerService/GetCurrency", "/aevon.ledger.v1.LedgerService/Transfer", "/aevon.identity.v1.IdentityService/CreateUser"]) {
        const answer = await rawUnary(raw, path, Buffer.from(bytes));
        expect({ code: codeOf(answer), message: answer.message }).toEqual({ code: "INTERNAL", message: "Error deserializing request" });
      }
      expect(await fingerprint(f.server.database, ["audit_seals"])).toEqual(before);
      // GetCurrency{code: "USD"}, hand-encoded, on the same connection.
      expect(codeOf(await rawUnary(raw, "/aevon.ledger.v1.LedgerService/GetCurrency", Buffer.from([0x0a, 0x03, 0x55, 0x53, 0x44])))).toBe("OK");
      expect((await call("health", "Check", { service: "" })).status).toBe("SERVING");
    } finally {
      raw.close();
    }
  });

  it("a compressed request that inflates past the 1 MiB limit is RESOURCE_EXHAUSTED on both ports", async () => {
    const inflated = 8 * 1024 * 1024;
    // GetCurrency{code: 8 MiB of zeros}: a few KiB once gzipped.
    const message = Buffer.concat([Buffer.from([0x0a, ...varint(inflated)]), Buffer.alloc(inflated)]);
    const gzipClient = new grpc.Client(f.server.grpcAddress, grpc.credentials.createInsecure(), { "grpc.default_compression_algorithm": 2 });
    try {
      expect(codeOf(await rawUnary(gzipClient, "/aevon.ledger.v1.LedgerService/GetCurrency", message))).toBe("RESOURCE_EXHAUSTED");
    } finally {
      gzipClient.close();
    }
    const body = gzipSync(`{"code":"${"A".repeat(inflated)}"}`);
    expect(body.length).toBeLessThan(f.server.config.maxReceiveMessageBytes);
    const res = await fetch(`${f.server.connectBaseUrl}/aevon.ledger.v1.LedgerService/GetCurrency`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      body,
    });
    expect(((await res.json()) as { code: string }).code).toBe("resource_exhausted");
    expect((await call("ledger", "GetCurrency", { code: "USD" })).currency.scale).toBe(2);
  });

  it("malformed JSON on the Connect port is INVALID_ARGUMENT", async () => {
    for (const body of ["{", "[]", '{"amount":{}}', "\u0000"]) {
      const answer = await connectJson(f.server.connectBaseUrl, "/aevon.ledger.v1.LedgerService/Transfer", body);
      expect(codeOf(answer)).toBe("INVALID_ARGUMENT");
    }
  });
});

describe("google.protobuf.Struct payloads", () => {
  const append = (payload: object) => ({ idempotencyKey: key(), action: "aegis.probe", resourceType: "session", resourceId: "s1", payload });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])("a number_value of %s (binary only) is INVALID_ARGUMENT naming it, not stored as null", async (n) => {
    const payload = { fields: { ok: { numberValue: 1 }, list: { listValue: { values: [{ stringValue: "a" }, { numberValue: n }] } } } };
    await expectNoChange(f.server.database, async () => expectInvalid(await answerOf(call("audit", "Append", append(payload))), 'payload["list"][1]'));
  });

  it("nesting beyond the decoders' 100 messages is refused on both ports; 30 levels are stored, 31 refused naming the path", async () => {
    const nested = (depth: number): object => (depth === 0 ? { numberValue: 1 } : { listValue: { values: [nested(depth - 1)] } });
    // By hand (client libraries refuse to encode it): Value{list_value: ListValue{values: [Value{…}]}}, 60 lists deep.
    const len = (no: number, body: Uint8Array) => concat(tag(no, 2), varint(body.length), body);
    let value: Uint8Array = concat(tag(2, 1), new Uint8Array(new Float64Array([1]).buffer));
    for (let i = 0; i < 60; i++) value = len(6, len(1, value));
    const text = (no: number, s: string) => len(no, Buffer.from(s));
    const request = concat(text(1, key()), text(2, "a.b"), text(3, "t"), text(4, "r"), len(5, len(1, concat(text(1, "x"), len(2, value)))));
    const raw = new grpc.Client(f.server.grpcAddress, grpc.credentials.createInsecure());
    const deep = await expectNoChange(f.server.database, () => rawUnary(raw, "/aevon.audit.v1.AuditService/Append", Buffer.from(request)));
    raw.close();
    expect({ code: codeOf(deep), message: deep.message }).toEqual({ code: "INTERNAL", message: "Error deserializing request" });
    const json = `{"idempotencyKey":"${key()}","action":"a.b","resourceType":"t","resourceId":"r","payload":{"x":${"[".repeat(5000)}${"]".repeat(5000)}}}`;
    const viaConnect = await expectNoChange(f.server.database, () => connectJson(f.server.connectBaseUrl, "/aevon.audit.v1.AuditService/Append", json));
    expect(codeOf(viaConnect)).toBe("INVALID_ARGUMENT");
    // The payload object and 29 lists in it: 30 levels, which a reader with protobuf's default limit of 100 can still decode.
    const { event } = await call("audit", "Append", append({ fields: { x: nested(29) } }));
    expect(event.id).not.toBe("0");
    const tooDeep = await expectNoChange(f.server.database, () => answerOf(call("audit", "Append", append({ fields: { x: nested(30) } }))));
    expectInvalid(tooDeep, `payload["x"]${"[0]".repeat(29)}`);
  });
});

describe("the same request, encoded another way", () => {
  it("a retry without the fields the first attempt carried and the service does not know replays it (unknown fields are not the request)", async () => {
    // Transfer{idempotency_key, debit, credit, amount: 1} by hand, then the same with field 999 (unknown) = 1 appended.
    const len = (no: number, body: Uint8Array) => concat(tag(no, 2), varint(body.length), body);
    const text = (no: number, s: string) => len(no, Buffer.from(s));
    const transfer = concat(text(1, key()), text(2, fx.payer), text(3, fx.payee), tag(4, 0), varint(1));
    const withUnknown = concat(transfer, tag(999, 0), varint(1));
    const raw = new grpc.Client(f.server.grpcAddress, grpc.credentials.createInsecure());
    try {
      const before = BigInt((await call("ledger", "GetBalance", { accountId: fx.payer })).balance.posted);
      expect(codeOf(await rawUnary(raw, "/aevon.ledger.v1.LedgerService/Transfer", Buffer.from(withUnknown)))).toBe("OK");
      expect(codeOf(await rawUnary(raw, "/aevon.ledger.v1.LedgerService/Transfer", Buffer.from(transfer)))).toBe("OK");
      expect(BigInt((await call("ledger", "GetBalance", { accountId: fx.payer })).balance.posted)).toBe(before - 1n);
    } finally {
      raw.close();
    }
  });
});

describe("JSON the Connect port cannot read exactly", () => {
  const path = "/aevon.ledger.v1.LedgerService/Transfer";
  const body = (amount: string) => `{"idempotencyKey":"${key()}","debitAccountId":"${fx.issuance}","creditAccountId":"${fx.payee}","amount":${amount}}`;
  const posted = async () => BigInt((await call("ledger", "GetBalance", { accountId: fx.payee })).balance.posted);

  it("an int64 beyond 2^53 as a JSON number is refused naming its field, not rounded; as a string, or within 2^53, it is exact", async () => {
    for (const amount of ["9007199254740993", "9007199254740992", "-9007199254740993", "12345678901234567890"]) {
      const answer = await expectNoChange(f.server.database, () => connectJson(f.server.connectBaseUrl, path, body(amount)));
      expect(codeOf(answer)).toBe("INVALID_ARGUMENT");
      expect(answer.message).toContain(`amount: ${amount} is an integer beyond`);
    }
    const before = await posted();
    expect(codeOf(await connectJson(f.server.connectBaseUrl, path, body('"9007199254740993"')))).toBe("OK");
    expect(codeOf(await connectJson(f.server.connectBaseUrl, path, body("9007199254740991")))).toBe("OK");
    expect(await posted()).toBe(before + 9007199254740993n + 9007199254740991n);
  });

  it("a body that is not UTF-8 is refused, not stored with U+FFFD in place of its bytes", async () => {
    const json = Buffer.from(`{"idempotencyKey":"${key()}","handle":"${handle()}","displayName":"A__"}`);
    const at = json.indexOf("A__") + 1;
    json[at] = 0xff;
    json[at + 1] = 0xc0;
    const answer = await expectNoChange(f.server.database, async () => {
      const res = await fetch(`${f.server.connectBaseUrl}/aevon.identity.v1.IdentityService/CreateUser`, { method: "POST", headers: { "content-type": "application/json" }, body: json });
      return { status: res.status, body: (await res.json()) as { code: string; message: string } };
    });
    expect(answer.body.code).toBe("invalid_argument");
    expect(answer.body.message).toContain("not valid UTF-8");
  });
});
