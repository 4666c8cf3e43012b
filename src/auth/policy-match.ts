/**
 * The string matchers of gRFC A43 policies, compiled once: `*` (anything),
 * `abc*` (prefix), `*abc` (suffix), otherwise exact. Principals add one rule:
 * `anonymous` (open mode) is matched only by the exact pattern "anonymous",
 * never by `*`, a prefix or a suffix (A43's `*` means "any authenticated").
 */
import { ANONYMOUS_PRINCIPAL } from "./principal.js";

export interface StringMatcher {
  readonly any: boolean;
  readonly exact: ReadonlySet<string>;
  readonly prefixes: readonly string[];
  readonly suffixes: readonly string[];
}

/** A pattern that is not `*`, `abc*`, `*abc` or exact (a `*` anywhere else). */
export function patternProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return "is empty";
  if (pattern === "*") return undefined;
  const inner = pattern.slice(pattern.startsWith("*") ? 1 : 0, pattern.endsWith("*") ? -1 : undefined);
  if (pattern.startsWith("*") && pattern.endsWith("*")) return "may have * at its start or its end, not both";
  if (inner.includes("*")) return "may have * only at its start or its end";
  return undefined;
}

/** Compiles checked patterns. */
export function compileMatcher(patterns: readonly string[]): StringMatcher {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const suffixes: string[] = [];
  let any = false;
  for (const p of patterns) {
    if (p === "*") any = true;
    else if (p.endsWith("*")) prefixes.push(p.slice(0, -1));
    else if (p.startsWith("*")) suffixes.push(p.slice(1));
    else exact.add(p);
  }
  // An empty prefix ("/*" is not empty, but "*"-only is handled above) would match all.
  if (prefixes.includes("") || suffixes.includes("")) any = true;
  return { any, exact, prefixes, suffixes };
}

export function matches(m: StringMatcher, value: string): boolean {
  if (m.any || m.exact.has(value)) return true;
  for (const p of m.prefixes) if (value.startsWith(p)) return true;
  for (const s of m.suffixes) if (value.endsWith(s)) return true;
  return false;
}

/** Principal matching: like `matches`, except that `anonymous` only matches the exact pattern "anonymous". */
export function matchesPrincipal(m: StringMatcher, principal: string): boolean {
  if (principal === ANONYMOUS_PRINCIPAL) return m.exact.has(ANONYMOUS_PRINCIPAL);
  return matches(m, principal);
}
