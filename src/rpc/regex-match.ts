/**
 * The regular-expression engine behind the contract's `string.pattern`
 * rules. protovalidate's default is RE2 in JavaScript (@bufbuild/re2): linear
 * time whatever the pattern, but about 5% of a Transfer's server CPU went to
 * it (three patterns per request: key, two account ids), measured with
 * `node --cpu-prof` under `npm run bench`.
 *
 * The contract's patterns are a handful of constants. Those listed in
 * PLATFORM_PATTERNS are anchored runs of character classes with bounded
 * repeats: no alternation, no nested quantifier, nothing a backtracking
 * engine can blow up on, so V8's RegExp (with the `u` flag: code points, as
 * RE2 counts them) matches them in linear time too, and gives RE2's answer
 * for every input (test/unit/rpc/regex-match.test.ts checks both engines on
 * hostile strings). Any other pattern (the e-mail rule, a CEL `matches()`,
 * a pattern added later) still goes to RE2.
 */
import { RE2JS } from "@bufbuild/re2";

/**
 * Patterns matched with the platform RegExp, each the exact text in proto/.
 * Add one only if it is an anchored sequence of character classes or
 * literals with bounded or single repeats, written the same in RE2 and
 * JavaScript syntax (no `\x{…}`, `\p{…}`, `(?…)`).
 */
export const PLATFORM_PATTERNS: readonly string[] = [
  '^[!"$-~]{1,128}$', // idempotency keys
  "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", // ids (lower-case UUIDs)
  "^[A-Z][A-Z0-9]{2,11}$", // currency codes
  "^[A-Za-z][A-Za-z0-9_]{2,29}$", // handles
  "^[A-Za-z0-9_]{0,30}$",
  "^[a-z0-9._-]{1,64}$",
  "^[^\\x00-\\x1F\\x7F-\\x9F]*$", // no control characters
];

/** Most RE2 programs kept: patterns from CEL `matches()` may be built from input. */
const RE2_CACHE_MAX = 1024;

const platform = new Map<string, RegExp>(PLATFORM_PATTERNS.map((p) => [p, new RegExp(p, "u")]));
const re2 = new Map<string, RE2JS>();

/** Matches `against` with RE2. */
export function re2Match(pattern: string, against: string): boolean {
  let program = re2.get(pattern);
  if (program === undefined) {
    if (re2.size >= RE2_CACHE_MAX) re2.clear();
    program = RE2JS.compile(pattern);
    re2.set(pattern, program);
  }
  return program.test(against);
}

/** protovalidate's RegexMatcher: the platform engine for the listed patterns, RE2 for the rest. */
export function regexMatch(pattern: string, against: string): boolean {
  const fast = platform.get(pattern);
  return fast !== undefined ? fast.test(against) : re2Match(pattern, against);
}
