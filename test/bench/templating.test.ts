/** The bench's call data: ghz-style templates over the fixture, JSON → request bytes, ghz data files. No database. */
import { readdirSync, readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { GHZ_DATA_FILES, ghzDataArray } from "../../bench/lib/ghz-data.js";
import { encodeJson, findMethod } from "../../bench/lib/methods.js";
import { SCENARIOS } from "../../bench/lib/scenarios.js";
import { compileTemplate, needsFixture, type CallContext, type Fixture } from "../../bench/lib/template.js";
import { TransferRequestSchema } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const ctx = (requestNumber = 0): CallContext => ({
  requestNumber,
  workerId: "w3",
  fullName: "aevon.ledger.v1.LedgerService/Transfer",
  inputName: "TransferRequest",
  outputName: "TransferResponse",
});
const fixture: Fixture = { accounts: ["hot", "a1", "a2", "a3"], users: ["u1", "u2"] };
/** A random source that always answers 0: every draw wants index 0 first. */
const zero = () => 0;

describe("templates", () => {
  it("expands the call data of ghz", () => {
    const t = compileTemplate("{{.RequestNumber}}|{{.WorkerID}}|{{.MethodName}}|{{.ServiceName}}|{{.FullyQualifiedName}}|{{.InputName}}", "-d");
    expect(t.render(ctx(41))).toBe("41|w3|Transfer|aevon.ledger.v1.LedgerService|aevon.ledger.v1.LedgerService.Transfer|TransferRequest");
  });

  it("stamps the call time in nanoseconds, milliseconds and seconds", () => {
    const before = BigInt(Date.now()) * 1_000_000n;
    const [nano, milli, unix] = compileTemplate("{{.TimestampUnixNano}} {{.TimestampUnixMilli}} {{.TimestampUnix}}", "-d").render(ctx()).split(" ");
    expect(nano).toMatch(/^\d{19}$/);
    expect(BigInt(nano!) >= before - 1_000_000n && BigInt(nano!) <= before + 5_000_000_000n).toBe(true);
    expect(BigInt(nano!) / 1_000_000n).toBe(BigInt(milli!));
    expect(Math.floor(Number(milli) / 1000)).toBe(Number(unix));
  });

  it("makes a new UUID per occurrence and per call, and one .UUID per call", () => {
    const t = compileTemplate("{{newUUID}} {{newUUID}} {{.UUID}} {{.UUID}}", "-d");
    const [a, b, c, d] = t.render(ctx()).split(" ");
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
    expect(c).toBe(d);
    expect(t.render(ctx()).split(" ")[0]).not.toBe(a);
  });

  it("draws distinct random accounts within one request", () => {
    const t = compileTemplate("{{randomAccount}},{{randomAccount}},{{randomAccount}}", "-d", { fixture, random: zero });
    expect(t.render(ctx())).toBe("hot,a1,a2"); // 0 is taken, so the next draws move on instead of repeating it
    expect(new Set(compileTemplate("{{randomAccount}} {{randomAccount}}", "-d", { fixture }).render(ctx()).split(" ")).size).toBe(2);
  });

  it("never draws the hot account at random when the template names it", () => {
    const t = compileTemplate('{"debit":"{{hotAccount}}","credit":"{{randomAccount}}"}', "-d", { fixture, random: zero });
    expect(JSON.parse(t.render(ctx()))).toEqual({ debit: "hot", credit: "a1" });
    // Order does not matter: the credit comes first here.
    const reversed = compileTemplate("{{randomAccount}} {{hotAccount}}", "-d", { fixture, random: zero });
    expect(reversed.render(ctx())).toBe("a1 hot");
  });

  it("picks users and bounded random values", () => {
    expect(compileTemplate("{{randomUser}}", "-d", { fixture, random: () => 0.99 }).render(ctx())).toBe("u2");
    const ints = Array.from({ length: 200 }, () => Number(compileTemplate("{{randomInt 5 8}}", "-d").render(ctx())));
    expect(Math.min(...ints)).toBeGreaterThanOrEqual(5);
    expect(Math.max(...ints)).toBeLessThan(8);
    expect(compileTemplate("{{ randomString 12 }}", "-d").render(ctx())).toMatch(/^[A-Za-z0-9]{12}$/);
  });

  it("refuses what it does not know, naming the flag", () => {
    expect(() => compileTemplate('{"a":"{{nope}}"}', "-d")).toThrow(/-d: unknown template action \{\{nope\}\}/);
    expect(() => compileTemplate("{{.RequestNumber", "-m")).toThrow(/-m: .* never closed/);
    expect(() => compileTemplate("{{randomInt 3 3}}", "-d")).toThrow(/max must be greater/);
    expect(() => compileTemplate("{{randomAccount}}", "-d").render(ctx())).toThrow(/needs the seeded fixture/);
    const tooMany = compileTemplate("{{hotAccount}} {{randomAccount}} {{randomAccount}} {{randomAccount}} {{randomAccount}}", "-d", { fixture });
    expect(() => tooMany.render(ctx())).toThrow(/draws 4 distinct accounts but the fixture has 3/);
  });

  it("tells static data from data that needs rendering or a fixture", () => {
    expect(compileTemplate('{"service":""}', "-d").isStatic).toBe(true);
    expect(compileTemplate('{"k":"{{newUUID}}"}', "-d").isStatic).toBe(false);
    expect(needsFixture(SCENARIOS["transfer-hot"].calls[0]!.data)).toBe(true);
    expect(needsFixture(SCENARIOS.health.calls[0]!.data)).toBe(false);
  });
});

describe("requests from JSON", () => {
  it("maps rendered JSON onto the request message (both ghz method spellings)", () => {
    const method = findMethod("aevon.ledger.v1.LedgerService.Transfer");
    expect(method.path).toBe("/aevon.ledger.v1.LedgerService/Transfer");
    const json = compileTemplate(SCENARIOS["transfer-uniform"].calls[0]!.data, "-d", { fixture, random: zero }).render(ctx());
    const request = fromBinary(TransferRequestSchema, encodeJson(method, json, "-d"));
    expect(request.debitAccountId).toBe("hot");
    expect(request.creditAccountId).toBe("a1");
    expect(request.amount).toBe(1n);
    expect(request.idempotencyKey).toMatch(/^bench-[0-9a-f-]{36}$/);
  });

  it("uses an array round-robin, as ghz does for unary calls", () => {
    const method = findMethod("aevon.ledger.v1.LedgerService/Transfer");
    const json = '[{"memo":"a"},{"memo":"b"}]';
    expect([0, 1, 2].map((n) => fromBinary(TransferRequestSchema, encodeJson(method, json, "-d", n)).memo)).toEqual(["a", "b", "a"]);
  });

  it("names the flag and the field when the JSON does not fit", () => {
    const method = findMethod("aevon.ledger.v1.LedgerService/Transfer");
    expect(() => encodeJson(method, '{"amount":"lots"}', "-d")).toThrow(/-d: does not fit aevon.ledger.v1.TransferRequest.*amount/);
    expect(() => findMethod("aevon.ledger.v1.LedgerService/Nope")).toThrow(/--call: unknown unary method/);
  });
});

describe("ghz", () => {
  it("writes data arrays with the fixture's ids and {{newUUID}} left for ghz", () => {
    const rows = ghzDataArray(SCENARIOS["transfer-hot"].calls[0]!.data, fixture, 3) as Record<string, string>[];
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      expect(row.idempotency_key).toBe("bench-{{newUUID}}");
      expect(row.debit_account_id).toBe("hot");
      expect(["a1", "a2", "a3"]).toContain(row.credit_account_id);
    }
  });

  it("has a config per scenario call that resolves and whose data exists", () => {
    const dir = path.join(ROOT, "bench/ghz");
    const configs = readdirSync(dir).filter((f) => f.endsWith(".json"));
    const calls = new Set(Object.values(SCENARIOS).flatMap((s) => s.calls.map((c) => c.call)));
    const covered = new Set<string>();
    for (const file of configs) {
      const config = JSON.parse(readFileSync(path.join(dir, file), "utf8")) as Record<string, unknown>;
      const method = findMethod(config.call as string);
      covered.add(method.fullName);
      expect(existsSync(path.join(ROOT, config.proto as string)), `${file}: proto`).toBe(true);
      expect(config.insecure).toBe(true);
      if (config["data-file"]) expect(Object.keys(GHZ_DATA_FILES), file).toContain(path.basename(config["data-file"] as string));
      else encodeJson(method, JSON.stringify(config.data), file);
    }
    expect([...covered].sort()).toEqual([...calls].sort());
  });
});
