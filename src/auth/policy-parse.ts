/**
 * Parses and checks an authorization policy in the JSON format of gRFC A43
 * (grpc-go / grpc-java `authz` static policy), plus our `ledger` section, into
 * compiled rules. Every problem is a PolicyError naming the rule and field.
 */
import { compileMatcher, patternProblem, type StringMatcher } from "./policy-match.js";

export class PolicyError extends Error {
  override readonly name = "PolicyError";
}

export interface CompiledRule {
  readonly name: string;
  /** Undefined: any caller, anonymous included (no `source` or no `principals`). */
  readonly principals: StringMatcher | undefined;
  /** Undefined: any path. */
  readonly paths: StringMatcher | undefined;
  /** All must match (AND); each header's values are OR-ed. */
  readonly headers: readonly { readonly key: string; readonly values: StringMatcher }[];
}

export const ACCOUNT_KINDS = ["user", "system:issuance", "system:treasury", "system:fees", "system:external_settlement"] as const;
export type AccountKind = (typeof ACCOUNT_KINDS)[number];

export interface CompiledGrant {
  readonly name: string;
  readonly principals: StringMatcher;
  readonly kinds: ReadonlySet<AccountKind>;
}

export interface CompiledPolicy {
  readonly name: string;
  readonly denyRules: readonly CompiledRule[];
  readonly allowRules: readonly CompiledRule[];
  readonly debitGrants: readonly CompiledGrant[];
}

/** Most rules (deny + allow) and grants, and most entries in any one list: far beyond a hand-written policy. */
export const MAX_POLICY_RULES = 1000;
export const MAX_POLICY_LIST_ENTRIES = 1000;
/** Longest name, pattern or header value. */
export const MAX_POLICY_STRING_LENGTH = 512;

const ACCOUNT_ALIASES: Record<string, readonly AccountKind[]> = {
  user: ["user"],
  mint: ["system:issuance"],
  "system:issuance": ["system:issuance"],
  "system:treasury": ["system:treasury"],
  "system:fees": ["system:fees"],
  "system:external_settlement": ["system:external_settlement"],
  "system:*": ACCOUNT_KINDS.filter((k) => k.startsWith("system:")),
  "*": ACCOUNT_KINDS,
};

// A43: no pseudo-headers, no grpc-*, no hop-by-hop headers, no host.
const FORBIDDEN_HEADERS = new Set(["host", "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"]);
const HEADER_KEY = /^[a-z0-9!#$%&'+.^_`|~-]+$/;
const PRINTABLE = /^[\x20-\x7e]*$/;
// `/service/method`, and prefixes and suffixes of it.
const EXACT_PATH = /^\/[^/*\s]+\/[^/*\s]+$/;
const PREFIX_PATH = /^\/[^/*\s]*(?:\/[^/*\s]*)?$/;
const SUFFIX_PATH = /^[^/*\s]*(?:\/[^/*\s]+)?$/;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

class Context {
  constructor(private readonly where: string) {}
  fail(message: string): never {
    throw new PolicyError(`${this.where}: ${message}`);
  }
  keys(value: Json, field: string, allowed: readonly string[]): void {
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) this.fail(`${field === "" ? "" : `${field}: `}unknown key "${key}" (expected ${allowed.join(", ")})`);
    }
  }
  string(value: unknown, field: string): string {
    if (typeof value !== "string" || value.length === 0) this.fail(`${field} must be a non-empty string`);
    if (value.length > MAX_POLICY_STRING_LENGTH || !PRINTABLE.test(value)) this.fail(`${field} must be at most ${MAX_POLICY_STRING_LENGTH} printable ASCII characters`);
    return value;
  }
  /**
   * An array. `empty`: "matcher" (a matching field: empty is refused, since absent means
   * "match everything" and [] would silently mean the same), "refuse" or "allow".
   */
  list(value: unknown, field: string, empty: "matcher" | "refuse" | "allow" = "matcher"): unknown[] {
    if (!Array.isArray(value)) this.fail(`${field} must be an array`);
    if (value.length === 0 && empty === "matcher") this.fail(`${field} must not be empty (omit it to match everything)`);
    if (value.length === 0 && empty === "refuse") this.fail(`${field} must not be empty`);
    if (value.length > MAX_POLICY_LIST_ENTRIES) this.fail(`${field} has more than ${MAX_POLICY_LIST_ENTRIES} entries`);
    return value;
  }
  patterns(value: unknown, field: string, check?: (p: string, f: string) => void, empty: "matcher" | "refuse" = "matcher"): StringMatcher {
    const patterns = this.list(value, field, empty).map((p, i) => {
      const s = this.string(p, `${field}[${i}]`);
      const problem = patternProblem(s);
      if (problem) this.fail(`${field}[${i}] ${JSON.stringify(s)} ${problem}`);
      check?.(s, `${field}[${i}]`);
      return s;
    });
    return compileMatcher(patterns);
  }
}

function checkPath(this: Context, path: string, field: string): void {
  if (path === "*") return;
  const ok = path.endsWith("*") ? PREFIX_PATH.test(path.slice(0, -1)) : path.startsWith("*") ? SUFFIX_PATH.test(path.slice(1)) : EXACT_PATH.test(path);
  if (!ok) this.fail(`${field} ${JSON.stringify(path)} is not a method path (expected "/package.Service/Method", "/package.Service/*" or "*")`);
}

function checkHeaderKey(ctx: Context, key: string, field: string): void {
  if (key.startsWith(":")) ctx.fail(`${field} ${JSON.stringify(key)}: pseudo-headers cannot be matched`);
  if (key !== key.toLowerCase()) ctx.fail(`${field} ${JSON.stringify(key)} must be lower-case`);
  if (!HEADER_KEY.test(key)) ctx.fail(`${field} ${JSON.stringify(key)} is not a header name`);
  if (key.startsWith("grpc-")) ctx.fail(`${field} ${JSON.stringify(key)}: grpc-* headers cannot be matched`);
  if (FORBIDDEN_HEADERS.has(key)) ctx.fail(`${field} ${JSON.stringify(key)}: hop-by-hop and host headers cannot be matched`);
}

function parseRule(value: unknown, where: string): CompiledRule {
  if (!isObject(value)) throw new PolicyError(`policy rule ${where}: must be an object`);
  const named = typeof value.name === "string" && value.name.length > 0 && value.name.length <= MAX_POLICY_STRING_LENGTH && PRINTABLE.test(value.name);
  const ctx: Context = new Context(named ? `policy rule ${where} ${JSON.stringify(value.name)}` : `policy rule ${where}`);
  const name = ctx.string(value.name, "name");
  ctx.keys(value, "", ["name", "source", "request"]);
  let principals: StringMatcher | undefined;
  if (value.source !== undefined) {
    if (!isObject(value.source)) ctx.fail("source must be an object");
    ctx.keys(value.source, "source", ["principals"]);
    if (value.source.principals !== undefined) principals = ctx.patterns(value.source.principals, "source.principals");
  }
  let paths: StringMatcher | undefined;
  const headers: { key: string; values: StringMatcher }[] = [];
  if (value.request !== undefined) {
    const request = value.request;
    if (!isObject(request)) ctx.fail("request must be an object");
    ctx.keys(request, "request", ["paths", "headers"]);
    if (request.paths !== undefined) paths = ctx.patterns(request.paths, "request.paths", checkPath.bind(ctx));
    if (request.headers !== undefined) {
      ctx.list(request.headers, "request.headers").forEach((header, i) => {
        const field = `request.headers[${i}]`;
        if (!isObject(header)) ctx.fail(`${field} must be an object`);
        ctx.keys(header, field, ["key", "values"]);
        const key = ctx.string(header.key, `${field}.key`);
        checkHeaderKey(ctx, key, `${field}.key`);
        headers.push({ key, values: ctx.patterns(header.values, `${field}.values`) });
      });
    }
  }
  return { name, principals, paths, headers };
}

function parseGrant(value: unknown, where: string): CompiledGrant {
  if (!isObject(value)) throw new PolicyError(`policy grant ${where}: must be an object`);
  const named = typeof value.name === "string" && value.name.length > 0 && value.name.length <= MAX_POLICY_STRING_LENGTH && PRINTABLE.test(value.name);
  const ctx: Context = new Context(named ? `policy grant ${where} ${JSON.stringify(value.name)}` : `policy grant ${where}`);
  const name = ctx.string(value.name, "name");
  ctx.keys(value, "", ["name", "principals", "accounts"]);
  if (value.principals === undefined) ctx.fail("principals is required");
  const principals = ctx.patterns(value.principals, "principals", undefined, "refuse");
  if (value.accounts === undefined) ctx.fail("accounts is required");
  const kinds = new Set<AccountKind>();
  ctx.list(value.accounts, "accounts", "refuse").forEach((account, i) => {
    const expanded = typeof account === "string" ? ACCOUNT_ALIASES[account] : undefined;
    if (!Object.hasOwn(ACCOUNT_ALIASES, String(account)) || !expanded) {
      ctx.fail(`accounts[${i}] ${JSON.stringify(account)} is not an account kind (one of ${Object.keys(ACCOUNT_ALIASES).join(", ")})`);
    }
    for (const kind of expanded) kinds.add(kind);
  });
  return { name, principals, kinds };
}

/** Checks a parsed JSON value and compiles it; throws PolicyError. */
export function compilePolicy(value: unknown): CompiledPolicy {
  const ctx: Context = new Context("policy");
  if (!isObject(value)) ctx.fail("must be a JSON object");
  ctx.keys(value, "", ["name", "deny_rules", "allow_rules", "ledger"]);
  const name = ctx.string(value.name, "name");
  if (value.allow_rules === undefined) ctx.fail("allow_rules is required");
  const rules = (field: "deny_rules" | "allow_rules"): CompiledRule[] =>
    value[field] === undefined ? [] : ctx.list(value[field], field, field === "allow_rules" ? "refuse" : "allow").map((rule, i) => parseRule(rule, `${field}[${i}]`));
  const denyRules = rules("deny_rules");
  const allowRules = rules("allow_rules");
  const seen = new Map<string, string>();
  for (const [field, list] of [["deny_rules", denyRules], ["allow_rules", allowRules]] as const) {
    list.forEach((rule, i) => {
      const where = `${field}[${i}]`;
      const first = seen.get(rule.name);
      if (first) throw new PolicyError(`policy rule ${where} ${JSON.stringify(rule.name)}: name is already used by ${first}`);
      seen.set(rule.name, where);
    });
  }
  let debitGrants: CompiledGrant[] = [];
  if (value.ledger !== undefined) {
    if (!isObject(value.ledger)) ctx.fail("ledger must be an object");
    ctx.keys(value.ledger, "ledger", ["debit_grants"]);
    if (value.ledger.debit_grants !== undefined) {
      debitGrants = ctx.list(value.ledger.debit_grants, "ledger.debit_grants", "allow").map((g, i) => parseGrant(g, `ledger.debit_grants[${i}]`));
      const names = new Map<string, number>();
      debitGrants.forEach((grant, i) => {
        const first = names.get(grant.name);
        if (first !== undefined) throw new PolicyError(`policy grant ledger.debit_grants[${i}] ${JSON.stringify(grant.name)}: name is already used by ledger.debit_grants[${first}]`);
        names.set(grant.name, i);
      });
    }
  }
  if (denyRules.length + allowRules.length + debitGrants.length > MAX_POLICY_RULES) ctx.fail(`more than ${MAX_POLICY_RULES} rules and grants`);
  return { name, denyRules, allowRules, debitGrants };
}
