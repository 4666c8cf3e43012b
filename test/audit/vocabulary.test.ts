/**
 * The audit vocabulary in audit.proto (AuditAction, AuditResourceType: each
 * value's comment starts with the string events carry) lists exactly what
 * the service can write: every action and resource type in the domain's
 * source and in the SQL functions of the migrations is listed, and every
 * listed one is still written somewhere. The list cannot drift from the code.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { AuditActionSchema, AuditResourceTypeSchema } from "../../src/gen/aevon/audit/v1/audit_pb.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const AUDIT_PROTO = readFileSync(path.join(ROOT, "proto/aevon/audit/v1/audit.proto"), "utf8");

function files(dir: string, ext: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return files(full, ext);
    return name.endsWith(ext) ? [full] : [];
  });
}

/** Enum value name → the backticked string its leading comment starts with. */
function documented(enumName: string): Map<string, string> {
  const body = new RegExp(`enum ${enumName} \\{([\\s\\S]*?)\\n\\}`).exec(AUDIT_PROTO)?.[1];
  if (!body) throw new Error(`enum ${enumName} not found in audit.proto`);
  const out = new Map<string, string>();
  for (const m of body.matchAll(/((?:\s*\/\/.*\n)+)\s*([A-Z0-9_]+) = \d+;/g)) {
    const value = /^\s*\/\/ `([^`]+)`/.exec(m[1]!)?.[1];
    if (value !== undefined) out.set(m[2]!, value);
  }
  return out;
}

const domainSource = files(path.join(ROOT, "src/domain"), ".ts").map((f) => readFileSync(f, "utf8"));
const migrationSql = files(path.join(ROOT, "prisma/migrations"), ".sql").map((f) => readFileSync(f, "utf8"));

/** Every action the code can write: string literals of the `ledger.` and `identity.` namespaces, in TypeScript and SQL. */
function actionsInCode(): Set<string> {
  const found = new Set<string>();
  for (const text of domainSource) for (const m of text.matchAll(/"((?:ledger|identity)(?:\.[a-z_]+)+)"/g)) found.add(m[1]!);
  for (const text of migrationSql) for (const m of text.matchAll(/'((?:ledger|identity)(?:\.[a-z_]+)+)'/g)) found.add(m[1]!);
  return found;
}

/** Every resource type the code can write: `resourceType: "…"` in TypeScript, the literal after an action in SQL inserts. */
function resourceTypesInCode(): Set<string> {
  const found = new Set<string>();
  for (const text of domainSource) for (const m of text.matchAll(/resourceType: "([a-z_]+)"/g)) found.add(m[1]!);
  for (const text of migrationSql) for (const m of text.matchAll(/'(?:ledger|identity)(?:\.[a-z_]+)+',\s*'([a-z_]+)'/g)) found.add(m[1]!);
  return found;
}

describe("the audit vocabulary in audit.proto", () => {
  it("documents every value of AuditAction and AuditResourceType with the string events carry", () => {
    for (const [enumName, schema] of [
      ["AuditAction", AuditActionSchema],
      ["AuditResourceType", AuditResourceTypeSchema],
    ] as const) {
      const names = schema.values.filter((v) => v.number !== 0).map((v) => v.name);
      expect([...documented(enumName).keys()].sort(), enumName).toEqual(names.sort());
    }
  });

  it("lists exactly the actions the code can write", () => {
    const code = actionsInCode();
    // The scan sees the actions written in TypeScript and in the one-statement SQL path alike.
    expect(code).toContain("ledger.transfer.reverse");
    expect(code).toContain("identity.user.link_external_identity");
    expect(migrationSql.some((sql) => sql.includes("'ledger.transfer'"))).toBe(true);
    expect([...new Set(documented("AuditAction").values())].sort()).toEqual([...code].sort());
  });

  it("lists exactly the resource types the code can write", () => {
    const code = resourceTypesInCode();
    expect(code).toContain("transfer_batch");
    expect([...new Set(documented("AuditResourceType").values())].sort()).toEqual([...code].sort());
  });
});
