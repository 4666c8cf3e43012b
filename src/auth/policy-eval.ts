/**
 * Evaluates a compiled policy (policy-parse.ts) on every call, A43 semantics:
 * deny rules first (any match denies), then allow rules (any match allows),
 * else deny. Within a rule: principals OR-ed, paths OR-ed, headers AND-ed
 * (each header's values OR-ed), an absent field matches everything.
 * Health and reflection are open unless a deny rule matches them.
 *
 * Cheap per call: the rules that can apply to a method path are found once
 * per path and cached (bounded), so a call tests only those rules' principal
 * and header matchers.
 */
import { matches, matchesPrincipal } from "./policy-match.js";
import type { AccountKind, CompiledPolicy, CompiledRule } from "./policy-parse.js";

/** Method-path prefixes that are allowed without an allow rule (but can be denied). */
export const DEFAULT_OPEN_PATH_PREFIXES = ["/grpc.health.v1.Health/", "/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/"] as const;

/** Request headers: a lookup by lower-case name, or a plain object. Several values of one header are joined with "," (as A43/Envoy do). */
export type HeaderSource = ((key: string) => string | undefined) | Readonly<Record<string, string | readonly string[] | undefined>>;

export interface AuthorizationRequest {
  /** From authenticate(): a certificate/token principal, or `anonymous`. */
  readonly principal: string;
  /** `/package.Service/Method`. */
  readonly path: string;
  /** Needed only if a rule matches on headers. */
  readonly headers?: HeaderSource | undefined;
}

export interface Decision {
  readonly allowed: boolean;
  /** The rule that decided, when one did. */
  readonly matchedRule?: string;
  /** How the decision was reached (for logs). */
  readonly by: "deny_rule" | "allow_rule" | "default_open" | "default_deny";
}

export type AccountOwner = { readonly type: "USER" } | { readonly type: "SYSTEM"; readonly role: "issuance" | "treasury" | "fees" | "external_settlement" };

export interface DebitDecision {
  readonly allowed: boolean;
  /** The grant that allowed it. */
  readonly grant?: string;
}

/** Distinct method paths whose applicable rules are cached; beyond it paths are evaluated uncached (still correct). */
export const MAX_CACHED_PATHS = 4096;

interface PlannedRule {
  readonly rule: CompiledRule;
  /** The frozen Decision this rule returns: no allocation per call. */
  readonly decision: Decision;
}

interface PathPlan {
  readonly deny: readonly PlannedRule[];
  readonly allow: readonly PlannedRule[];
  readonly defaultOpen: boolean;
}

const DEFAULT_DENY: Decision = Object.freeze({ allowed: false, by: "default_deny" as const });
const DEFAULT_OPEN: Decision = Object.freeze({ allowed: true, by: "default_open" as const });
const NO_GRANT: DebitDecision = Object.freeze({ allowed: false });

function headerValue(headers: HeaderSource | undefined, key: string): string | undefined {
  if (headers === undefined) return undefined;
  if (typeof headers === "function") return headers(key);
  const v = headers[key];
  if (v === undefined) return undefined;
  return typeof v === "string" ? v : v.length === 0 ? undefined : v.join(",");
}

function ruleMatches(rule: CompiledRule, request: AuthorizationRequest): boolean {
  if (rule.principals && !matchesPrincipal(rule.principals, request.principal)) return false;
  for (const header of rule.headers) {
    const value = headerValue(request.headers, header.key);
    if (value === undefined || !matches(header.values, value)) return false;
  }
  return true;
}

export class Policy {
  readonly name: string;
  private readonly plans = new Map<string, PathPlan>();
  private readonly deny: readonly PlannedRule[];
  private readonly allow: readonly PlannedRule[];

  constructor(private readonly compiled: CompiledPolicy) {
    this.name = compiled.name;
    const plan = (allowed: boolean, by: "deny_rule" | "allow_rule") => (rule: CompiledRule): PlannedRule => ({
      rule,
      decision: Object.freeze({ allowed, by, matchedRule: rule.name }),
    });
    this.deny = compiled.denyRules.map(plan(false, "deny_rule"));
    this.allow = compiled.allowRules.map(plan(true, "allow_rule"));
  }

  /** Whether the caller may call the method. */
  authorize(request: AuthorizationRequest): Decision {
    const plan = this.planFor(request.path);
    for (const p of plan.deny) if (ruleMatches(p.rule, request)) return p.decision;
    for (const p of plan.allow) if (ruleMatches(p.rule, request)) return p.decision;
    return plan.defaultOpen ? DEFAULT_OPEN : DEFAULT_DENY;
  }

  /** Whether `principal` may debit an account with this owner (first matching grant wins). */
  mayDebit(principal: string, owner: AccountOwner): DebitDecision {
    const kind: AccountKind = owner.type === "USER" ? "user" : `system:${owner.role}`;
    for (const grant of this.compiled.debitGrants) {
      if (grant.kinds.has(kind) && matchesPrincipal(grant.principals, principal)) return { allowed: true, grant: grant.name };
    }
    return NO_GRANT;
  }

  private planFor(path: string): PathPlan {
    const cached = this.plans.get(path);
    if (cached) return cached;
    const applies = (p: PlannedRule) => p.rule.paths === undefined || matches(p.rule.paths, path);
    const plan: PathPlan = {
      deny: this.deny.filter(applies),
      allow: this.allow.filter(applies),
      defaultOpen: DEFAULT_OPEN_PATH_PREFIXES.some((p) => path.startsWith(p)),
    };
    if (this.plans.size < MAX_CACHED_PATHS) this.plans.set(path, plan);
    return plan;
  }
}
