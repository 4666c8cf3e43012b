/**
 * prisma/ (schema.prisma + migrations) lives at the repository root,
 * never under src/, and every script and config points there.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** Every path under `dir` that is a .prisma file or a folder named migrations. */
export function misplacedPrismaPaths(dir: string): string[] {
  const found: string[] = [];
  const walk = (current: string) => {
    for (const name of readdirSync(current)) {
      const full = path.join(current, name);
      if (statSync(full).isDirectory()) {
        if (name === "migrations") found.push(full);
        // Generated Prisma Client lives in src/generated/prisma; it holds no schema.
        walk(full);
      } else if (name.endsWith(".prisma")) {
        found.push(full);
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return found.map((p) => path.relative(ROOT, p));
}

describe("prisma/ at the repository root", () => {
  it("has the schema and migrations at the root", () => {
    expect(existsSync(path.join(ROOT, "prisma/schema.prisma"))).toBe(true);
    expect(existsSync(path.join(ROOT, "prisma/migrations/migration_lock.toml"))).toBe(true);
  });

  it("has no .prisma file and no migrations folder under src/", () => {
    expect(misplacedPrismaPaths(path.join(ROOT, "src"))).toEqual([]);
  });

  it("would catch a schema or a migrations folder planted under a src/ tree", () => {
    const fakeSrc = mkdtempSync(path.join(tmpdir(), "lor-src-"));
    try {
      mkdirSync(path.join(fakeSrc, "store/migrations"), { recursive: true });
      writeFileSync(path.join(fakeSrc, "store/schema.prisma"), "model X { id Int @id }");
      expect(misplacedPrismaPaths(fakeSrc).map((p) => path.basename(p)).sort()).toEqual(["migrations", "schema.prisma"]);
    } finally {
      rmSync(fakeSrc, { recursive: true, force: true });
    }
  });

  it("points prisma.config.ts and every npm script at the root location", () => {
    const config = readFileSync(path.join(ROOT, "prisma.config.ts"), "utf8");
    expect(config).toMatch(/schema:\s*"prisma\/schema\.prisma"/);
    expect(config).toMatch(/path:\s*"prisma\/migrations"/);
    const scripts = Object.values(JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")).scripts as Record<string, string>);
    for (const script of scripts) expect(script).not.toMatch(/src\/[^ ]*\.prisma|src\/[^ ]*migrations/);
  });
});
