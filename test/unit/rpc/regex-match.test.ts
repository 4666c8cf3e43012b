/**
 * The contract's simple patterns run on the platform RegExp instead of RE2
 * (src/rpc/regex-match.ts). Both engines must give the same answer for every
 * input, hostile ones included, and the list must name patterns that are
 * really in proto/.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { PLATFORM_PATTERNS, re2Match, regexMatch } from "../../../src/rpc/regex-match.js";
import { Prng } from "../support/prng.js";

const PROTO = path.resolve(import.meta.dirname, "../../../proto/aevon");

/** Every `string.pattern` written in proto/aevon, unescaped as protoc reads it. */
function contractPatterns(): Set<string> {
  const found = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith(".proto")) {
        for (const m of readFileSync(file, "utf8").matchAll(/string\.pattern = "((?:[^"\\]|\\.)*)"/g)) found.add(m[1]!.replace(/\\(.)/g, "$1"));
      }
    }
  };
  walk(PROTO);
  return found;
}

const HOSTILE = [
  "", "\0", "a\0b", "\n", "abc\n", "\nabc", "\r\n", " ", "\t", "\u007f", "\u0080", "\u009f", "\u00a0", "\ufeff",
  "\ud800", "a\udc00", "\ud83d\ude00", "é", "e\u0301", "ǅ", "ＡＢＣ", "USD", "usd", "US", "USDUSDUSDUSD", "USDUSDUSDUSDX",
  "0f8fad5b-d9cb-469f-a165-70867728950e", "0F8FAD5B-D9CB-469F-A165-70867728950E", "0f8fad5b-d9cb-469f-a165-70867728950e\n",
  "0f8fad5bd9cb469fa16570867728950e", "k".repeat(128), "k".repeat(129), "k-1:a.b_c~!\"$", "k#", "k%", "a b", "alice_01", "_alice",
  "x".repeat(1 << 20), `${"a".repeat(30)}`, `${"a".repeat(31)}`, "a.b-c_d", "A.B",
];

describe("the platform engine for the contract's simple patterns", () => {
  it("lists only patterns the contract uses", () => {
    const used = contractPatterns();
    for (const pattern of PLATFORM_PATTERNS) expect(used, pattern).toContain(pattern);
  });

  it("answers as RE2 does, on hostile strings and on random ones", () => {
    const prng = new Prng(Number(process.env.PROPERTY_SEED ?? 0x5eed));
    const alphabet = ["a", "z", "A", "Z", "0", "9", "-", "_", ".", "!", "~", "\"", "#", "$", " ", "\0", "\n", "\u007f", "\u0085", "é", "\ud800", "\ud83d\ude00", "f", "@"];
    const random = Array.from({ length: 3000 }, () => Array.from({ length: prng.int(40) }, () => alphabet[prng.int(alphabet.length)]).join(""));
    let checked = 0;
    for (const pattern of PLATFORM_PATTERNS) {
      for (const s of [...HOSTILE, ...random]) {
        expect(regexMatch(pattern, s), `${pattern} on ${JSON.stringify(s.slice(0, 40))}`).toBe(re2Match(pattern, s));
        checked++;
      }
    }
    expect(checked).toBe(PLATFORM_PATTERNS.length * (HOSTILE.length + random.length));
  });

  it("sends any other pattern to RE2, with RE2's syntax", () => {
    // \x{FEFF} and \p{Z} are RE2 syntax; JavaScript's RegExp would read them otherwise or refuse them.
    const email = "^[^@\\s\\p{Z}\\x0B\\x{FEFF}]+@[^@\\s\\p{Z}\\x0B\\x{FEFF}]+\\.[^@\\s\\p{Z}\\x0B\\x{FEFF}]+$";
    expect(regexMatch(email, "a@b.example")).toBe(true);
    expect(regexMatch(email, "a\ufeff@b.example")).toBe(false);
    expect(regexMatch(email, "a@b\u2028.example")).toBe(false);
  });
});
