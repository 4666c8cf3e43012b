/**
 * The layout is the architecture: src/domain holds rules without I/O,
 * src/rpc speaks the contract without touching the database, identity and
 * audit share plumbing from its own modules rather than the ledger's.
 * Imports are read from the sources (static and dynamic `import`).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const SRC = path.resolve(import.meta.dirname, "../../src");

function sourcesUnder(dir: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) files.push(...sourcesUnder(full));
    else if (name.endsWith(".ts")) files.push(full);
  }
  return files;
}

/** Each import of the files under `dir` (relative to src/), resolved to a path relative to src/ or kept as a package name. */
function importsUnder(dir: string): { file: string; target: string }[] {
  const found: { file: string; target: string }[] = [];
  for (const file of sourcesUnder(path.join(SRC, dir))) {
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)"([^"]+)"/g)) {
      const specifier = match[1]!;
      const target = specifier.startsWith(".")
        ? path.relative(SRC, path.resolve(path.dirname(file), specifier)).replace(/\.js$/, "")
        : specifier;
      found.push({ file: path.relative(SRC, file), target });
    }
  }
  return found;
}

const offending = (dir: string, forbidden: (target: string) => boolean) =>
  importsUnder(dir).filter(({ target }) => forbidden(target)).map(({ file, target }) => `${file} → ${target}`);

describe("layout", () => {
  it("finds imports at all (the check below is not vacuous)", () => {
    expect(importsUnder("domain/identity").length).toBeGreaterThan(5);
    expect(importsUnder("rpc").length).toBeGreaterThan(20);
  });

  it("identity and audit do not import the ledger module", () => {
    const intoLedger = (target: string) => target.startsWith("domain/ledger");
    expect([...offending("domain/identity", intoLedger), ...offending("domain/audit", intoLedger)]).toEqual([]);
  });

  it("the domain does no I/O: no store, server, Prisma, pg or network module", () => {
    const io = (target: string) =>
      /^(store|server|rpc|db)\//.test(target) || target === "lib/prisma" ||
      /(^@prisma\/|^pg$|^node:(net|http|http2|fs|fs\/promises|child_process)$|^@grpc\/|^@connectrpc\/)/.test(target) ||
      target.startsWith("generated/");
    expect(offending("domain", io)).toEqual([]);
  });

  it("the RPC layer never touches Prisma or the store's SQL", () => {
    const database = (target: string) =>
      /^(store|db)\//.test(target) || target === "lib/prisma" || target.startsWith("generated/prisma") || /^@prisma\/|^pg$/.test(target);
    expect(offending("rpc", database)).toEqual([]);
  });
});
