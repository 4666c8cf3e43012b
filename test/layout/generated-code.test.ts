/** The committed TypeScript in src/gen is exactly what `buf generate` makes from proto/ (no stale contracts). */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");

function files(dir: string, base = dir): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) Object.assign(out, files(full, base));
    else out[path.relative(base, full)] = readFileSync(full, "utf8");
  }
  return out;
}

describe("generated protobuf code", () => {
  it("matches a fresh buf generate", () => {
    const out = mkdtempSync(path.join(tmpdir(), "lor-gen-"));
    try {
      execFileSync(path.join(ROOT, "node_modules/.bin/buf"), ["generate", "-o", out], { cwd: ROOT, stdio: "pipe" });
      expect(files(path.join(out, "src/gen"))).toEqual(files(path.join(ROOT, "src/gen")));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
