/**
 * The authorization policy: gRFC A43 rules plus ledger debit grants.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadPolicyFile, parsePolicy, PolicyError } from "../../../src/auth/policy.js";

const LEDGER = "/aevon.ledger.v1.LedgerService";
const AUDIT = "/aevon.audit.v1.AuditService";
const PAYMENTS = "spiffe://aevon/ns/payments/sa/payments-api";
const AUDITOR = "spiffe://aevon/ns/audit/sa/auditor";
const MINTER = "spiffe://aevon/ns/treasury/sa/minter";

const example = {
  name: "ledger-of-record",
  deny_rules: [{ name: "no-reversals-from-payments", source: { principals: ["spiffe://aevon/ns/payments/*"] }, request: { paths: [`${LEDGER}/ReverseTransfer`] } }],
  allow_rules: [
    { name: "payments", source: { principals: ["spiffe://aevon/ns/payments/*"] }, request: { paths: [`${LEDGER}/*`] } },
    { name: "auditor", source: { principals: [AUDITOR] }, request: { paths: [`${AUDIT}/*`, `${LEDGER}/GetBalance`, `${LEDGER}/GetAccount`] } },
    { name: "readers", source: { principals: ["*"] }, request: { paths: ["*/GetCurrency", "*/ListCurrencies"] } },
    { name: "ops-tool", source: { principals: ["*.ops.aevon.internal"] }, request: { paths: [`${LEDGER}/Get*`] } },
  ],
  ledger: {
    debit_grants: [
      { name: "treasury-mints", principals: [MINTER], accounts: ["mint"] },
      { name: "payments", principals: ["spiffe://aevon/ns/payments/*"], accounts: ["user", "system:fees"] },
      { name: "settlement", principals: ["spiffe://aevon/ns/settlement/sa/settler"], accounts: ["system:*"] },
      { name: "break-glass", principals: ["spiffe://aevon/ns/ops/sa/break-glass"], accounts: ["*"] },
    ],
  },
};

function policyError(value: unknown): string {
  try {
    parsePolicy(value);
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyError);
    return (error as Error).message;
  }
  throw new Error("expected a PolicyError");
}

const allow = (rules: unknown[], extra: Record<string, unknown> = {}) => ({ name: "p", allow_rules: rules, ...extra });

describe("policy validation", () => {
  it("names the rule and the field at fault", () => {
    const rules = [
      { name: "a", request: { paths: [`${LEDGER}/Transfer`] } },
      { name: "b", request: { paths: [`${LEDGER}/*`] } },
      { name: "payments-read", request: { paths: ["/x"] } },
    ];
    expect(policyError(allow(rules))).toBe(
      'policy rule allow_rules[2] "payments-read": request.paths[0] "/x" is not a method path (expected "/package.Service/Method", "/package.Service/*" or "*")',
    );
    for (const bad of ["x/y", "/a/b/c", "/a/", "//b", "/a b/c", "a*b", "*a*", "/a/*/b*"]) {
      expect(policyError(allow([{ name: "r", request: { paths: [bad] } }])), bad).toMatch(/^policy rule allow_rules\[0\] "r": request\.paths\[0\]/);
    }
  });

  it("refuses unknown keys, wrong types, empty or duplicate names and empty lists", () => {
    expect(policyError({ ...allow([{ name: "r" }]), extra: 1 })).toMatch(/^policy: unknown key "extra" \(expected name, deny_rules, allow_rules, ledger\)$/);
    expect(policyError(allow([{ name: "r", sources: {} }]))).toBe('policy rule allow_rules[0] "r": unknown key "sources" (expected name, source, request)');
    expect(policyError(allow([{ name: "r", request: { path: [] } }]))).toMatch(/^policy rule allow_rules\[0\] "r": request: unknown key "path"/);
    expect(policyError(allow([{ name: "r", source: { principals: "x" } }]))).toBe('policy rule allow_rules[0] "r": source.principals must be an array');
    expect(policyError(allow([{ name: "r", source: { principals: [] } }]))).toMatch(/source\.principals must not be empty/);
    expect(policyError(allow([{ name: "r", source: { principals: [7] } }]))).toMatch(/source\.principals\[0\] must be a non-empty string/);
    expect(policyError(allow([{ name: "" }]))).toBe("policy rule allow_rules[0]: name must be a non-empty string");
    expect(policyError(allow([{ name: 3 }]))).toBe("policy rule allow_rules[0]: name must be a non-empty string");
    expect(policyError(allow([{ name: "dup" }], { deny_rules: [{ name: "dup" }] }))).toBe('policy rule allow_rules[0] "dup": name is already used by deny_rules[0]');
    expect(policyError({ name: "p" })).toBe("policy: allow_rules is required");
    expect(policyError({ name: "p", allow_rules: [] })).toBe("policy: allow_rules must not be empty");
    expect(parsePolicy({ name: "p", deny_rules: [], allow_rules: [{ name: "r" }], ledger: { debit_grants: [] } }).name).toBe("p");
    expect(policyError({ allow_rules: [{ name: "r" }] })).toBe("policy: name must be a non-empty string");
    expect(policyError("[1]")).toBe("policy: must be a JSON object");
    expect(policyError("{ nope")).toMatch(/^policy: not valid JSON/);
  });

  it("refuses header keys A43 refuses", () => {
    const header = (key: string) => policyError(allow([{ name: "h", request: { headers: [{ key, values: ["v"] }] } }]));
    expect(header("X-Tenant")).toBe('policy rule allow_rules[0] "h": request.headers[0].key "X-Tenant" must be lower-case');
    expect(header(":path")).toMatch(/pseudo-headers cannot be matched/);
    expect(header("grpc-timeout")).toMatch(/grpc-\* headers cannot be matched/);
    for (const key of ["host", "connection", "keep-alive", "te", "transfer-encoding", "upgrade", "proxy-authorization"]) expect(header(key), key).toMatch(/hop-by-hop and host/);
    expect(header("x tenant")).toMatch(/is not a header name/);
    expect(policyError(allow([{ name: "h", request: { headers: [{ key: "x-a" }] } }]))).toMatch(/request\.headers\[0\]\.values must be an array/);
  });

  it("refuses unknown account kinds and duplicate grants", () => {
    const grants = (debit_grants: unknown[]) => policyError(allow([{ name: "r" }], { ledger: { debit_grants } }));
    expect(grants([{ name: "g", principals: ["*"], accounts: ["users"] }])).toBe(
      'policy grant ledger.debit_grants[0] "g": accounts[0] "users" is not an account kind (one of user, mint, system:issuance, system:treasury, system:fees, system:external_settlement, system:*, *)',
    );
    expect(grants([{ name: "g", principals: ["*"], accounts: ["toString"] }])).toMatch(/"toString" is not an account kind/);
    expect(grants([{ name: "g", principals: ["*"] }])).toBe('policy grant ledger.debit_grants[0] "g": accounts is required');
    expect(grants([{ name: "g", principals: ["*"], accounts: [] }])).toBe('policy grant ledger.debit_grants[0] "g": accounts must not be empty');
    expect(grants([{ name: "g", principals: [], accounts: ["user"] }])).toBe('policy grant ledger.debit_grants[0] "g": principals must not be empty');
    expect(grants([{ name: "g", principals: ["*"], accounts: ["user"], limit: 5 }])).toMatch(/unknown key "limit"/);
    expect(grants([{ name: "g", principals: ["*"], accounts: ["user"] }, { name: "g", principals: ["*"], accounts: ["mint"] }])).toBe(
      'policy grant ledger.debit_grants[1] "g": name is already used by ledger.debit_grants[0]',
    );
    expect(policyError(allow([{ name: "r" }], { ledger: { credit_grants: [] } }))).toMatch(/^policy: ledger: unknown key "credit_grants"/);
  });

  it("loadPolicyFile reads a file and prefixes errors with its path", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ledger-policy-"));
    try {
      writeFileSync(path.join(dir, "good.json"), JSON.stringify(example));
      expect((await loadPolicyFile(path.join(dir, "good.json"))).name).toBe("ledger-of-record");
      writeFileSync(path.join(dir, "bad.json"), JSON.stringify(allow([{ name: "r", request: { paths: ["/x"] } }])));
      await expect(loadPolicyFile(path.join(dir, "bad.json"))).rejects.toThrow(new RegExp(`^${dir}/bad\\.json: policy rule allow_rules\\[0\\] "r": request\\.paths\\[0\\] "/x"`));
      await expect(loadPolicyFile(path.join(dir, "missing.json"))).rejects.toThrow(/missing\.json: ENOENT/);
      await expect(loadPolicyFile(path.join(dir, "good.json"), 10)).rejects.toThrow(/larger than 10 bytes/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("policy evaluation", () => {
  const policy = parsePolicy(example);
  const authorize = (principal: string, p: string, headers?: Record<string, string | string[]>) => policy.authorize({ principal, path: p, headers });

  it("allows what an allow rule matches, names the rule, and denies the rest", () => {
    expect(authorize(PAYMENTS, `${LEDGER}/Transfer`)).toEqual({ allowed: true, by: "allow_rule", matchedRule: "payments" });
    expect(authorize(AUDITOR, `${LEDGER}/GetBalance`)).toMatchObject({ allowed: true, matchedRule: "auditor" });
    expect(authorize(AUDITOR, `${AUDIT}/ListEvents`)).toMatchObject({ allowed: true, matchedRule: "auditor" });
    expect(authorize(AUDITOR, `${LEDGER}/Transfer`)).toEqual({ allowed: false, by: "default_deny" });
    expect(authorize(AUDITOR, `${LEDGER}/GetTransfer`)).toEqual({ allowed: false, by: "default_deny" });
    expect(authorize(PAYMENTS, `${AUDIT}/ListEvents`)).toEqual({ allowed: false, by: "default_deny" });
  });

  it("lets a deny rule win over an allow rule", () => {
    expect(authorize(PAYMENTS, `${LEDGER}/ReverseTransfer`)).toEqual({ allowed: false, by: "deny_rule", matchedRule: "no-reversals-from-payments" });
    expect(authorize("spiffe://aevon/ns/paymentsX/sa/x", `${LEDGER}/ReverseTransfer`).allowed).toBe(false);
  });

  it("matches prefix, suffix and * principals, where * means any authenticated caller", () => {
    expect(authorize("spiffe://aevon/ns/payments/sa/refunds", `${LEDGER}/Transfer`).matchedRule).toBe("payments");
    expect(authorize("spiffe://aevon/ns/paymentsX/sa/a", `${LEDGER}/Transfer`).allowed).toBe(false);
    expect(authorize("jump.ops.aevon.internal", `${LEDGER}/GetTransfer`).matchedRule).toBe("ops-tool");
    expect(authorize("jump.ops.aevon.internal", `${LEDGER}/Transfer`).allowed).toBe(false);
    expect(authorize("anyone-authenticated", "/aevon.ledger.v1.LedgerService/GetCurrency").matchedRule).toBe("readers");
    expect(authorize("anonymous", "/aevon.ledger.v1.LedgerService/GetCurrency")).toEqual({ allowed: false, by: "default_deny" });
  });

  it("lets anonymous through only an exact \"anonymous\" principal or a rule without principals", () => {
    const open = parsePolicy(allow([
      { name: "anon-exact", source: { principals: ["anonymous"] }, request: { paths: ["/a.S/Exact"] } },
      { name: "anon-prefix", source: { principals: ["anon*", "*mous"] }, request: { paths: ["/a.S/Prefix"] } },
      { name: "everyone", request: { paths: ["/a.S/Everyone"] } },
    ]));
    expect(open.authorize({ principal: "anonymous", path: "/a.S/Exact" }).matchedRule).toBe("anon-exact");
    expect(open.authorize({ principal: "anonymous", path: "/a.S/Prefix" }).allowed).toBe(false);
    expect(open.authorize({ principal: "anonymized-svc", path: "/a.S/Prefix" }).matchedRule).toBe("anon-prefix");
    expect(open.authorize({ principal: "anonymous", path: "/a.S/Everyone" }).matchedRule).toBe("everyone");
  });

  it("ANDs headers and ORs each header's values; a missing header does not match", () => {
    const p = parsePolicy(allow([
      { name: "tenant-a-batch", request: { paths: ["/a.S/*"], headers: [{ key: "x-tenant", values: ["tenant-a", "tenant-b*"] }, { key: "x-mode", values: ["*"] }] } },
    ]));
    const call = (headers: Record<string, string | string[]> | ((k: string) => string | undefined)) => p.authorize({ principal: "svc", path: "/a.S/M", headers }).allowed;
    expect(call({ "x-tenant": "tenant-a", "x-mode": "batch" })).toBe(true);
    expect(call({ "x-tenant": "tenant-b-eu", "x-mode": "" })).toBe(true);
    expect(call({ "x-tenant": "tenant-c", "x-mode": "batch" })).toBe(false);
    expect(call({ "x-tenant": "tenant-a" })).toBe(false);
    expect(call({ "x-mode": "batch" })).toBe(false);
    // Several values are joined with "," before matching (A43/Envoy).
    expect(call({ "x-tenant": ["tenant-a", "tenant-c"], "x-mode": "m" })).toBe(false);
    expect(call({ "x-tenant": ["tenant-b1", "tenant-c"], "x-mode": "m" })).toBe(true);
    expect(call((k) => ({ "x-tenant": "tenant-a", "x-mode": "m" })[k])).toBe(true);
  });

  it("leaves health and reflection open unless a deny rule matches them", () => {
    for (const p of ["/grpc.health.v1.Health/Check", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"]) {
      expect(authorize("anonymous", p), p).toEqual({ allowed: true, by: "default_open" });
    }
    expect(authorize(PAYMENTS, "/grpc.health.v1.HealthX/Check").allowed).toBe(false);
    const closed = parsePolicy(allow([{ name: "r" }], { deny_rules: [{ name: "no-reflection", request: { paths: ["/grpc.reflection.*"] } }] }));
    expect(closed.authorize({ principal: "anonymous", path: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo" })).toEqual({
      allowed: false, by: "deny_rule", matchedRule: "no-reflection",
    });
    expect(closed.authorize({ principal: "anonymous", path: "/grpc.health.v1.Health/Watch" }).allowed).toBe(true);
  });

  it("answers the same for a path evaluated again (the per-path plan cache) with other principals and headers", () => {
    for (let i = 0; i < 3; i++) {
      expect(authorize(PAYMENTS, `${LEDGER}/GetBalance`).matchedRule).toBe("payments");
      expect(authorize(AUDITOR, `${LEDGER}/GetBalance`).matchedRule).toBe("auditor");
      expect(authorize("nobody", `${LEDGER}/GetBalance`).allowed).toBe(false);
    }
  });
});

describe("ledger debit grants", () => {
  const policy = parsePolicy(example);
  const USER = { type: "USER" } as const;
  const system = (role: "issuance" | "treasury" | "fees" | "external_settlement") => ({ type: "SYSTEM", role }) as const;

  it("grants the minter the issuance account through the `mint` alias, and nothing else", () => {
    expect(policy.mayDebit(MINTER, system("issuance"))).toEqual({ allowed: true, grant: "treasury-mints" });
    expect(policy.mayDebit(MINTER, system("treasury"))).toEqual({ allowed: false });
    expect(policy.mayDebit(MINTER, USER)).toEqual({ allowed: false });
  });

  it("matches principal patterns and account kinds together", () => {
    expect(policy.mayDebit(PAYMENTS, USER)).toEqual({ allowed: true, grant: "payments" });
    expect(policy.mayDebit("spiffe://aevon/ns/payments/sa/refunds", system("fees"))).toEqual({ allowed: true, grant: "payments" });
    expect(policy.mayDebit(PAYMENTS, system("issuance"))).toEqual({ allowed: false });
    expect(policy.mayDebit(AUDITOR, USER)).toEqual({ allowed: false });
  });

  it("expands system:* to every system role but not users, and * to everything", () => {
    const settler = "spiffe://aevon/ns/settlement/sa/settler";
    for (const role of ["issuance", "treasury", "fees", "external_settlement"] as const) {
      expect(policy.mayDebit(settler, system(role)), role).toEqual({ allowed: true, grant: "settlement" });
      expect(policy.mayDebit("spiffe://aevon/ns/ops/sa/break-glass", system(role)).grant).toBe("break-glass");
    }
    expect(policy.mayDebit(settler, USER)).toEqual({ allowed: false });
    expect(policy.mayDebit("spiffe://aevon/ns/ops/sa/break-glass", USER).grant).toBe("break-glass");
  });

  it("denies every debit without a ledger section, and anonymous unless named exactly", () => {
    const bare = parsePolicy(allow([{ name: "r" }]));
    expect(bare.mayDebit(PAYMENTS, USER)).toEqual({ allowed: false });
    const star = parsePolicy(allow([{ name: "r" }], { ledger: { debit_grants: [{ name: "all", principals: ["*"], accounts: ["*"] }] } }));
    expect(star.mayDebit("anonymous", USER)).toEqual({ allowed: false });
    expect(star.mayDebit("svc", USER)).toEqual({ allowed: true, grant: "all" });
  });
});
