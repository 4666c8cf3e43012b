/** What a statement's generic plan does: which tables it scans sequentially, and how many rows it reads. */
import type pg from "pg";

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Actual Rows"?: number;
  "Actual Loops"?: number;
  "Rows Removed by Filter"?: number;
  "Rows Removed by Index Recheck"?: number;
  Plans?: PlanNode[];
}

function seqScanned(node: PlanNode, into: string[]): string[] {
  if (node["Node Type"] === "Seq Scan" && node["Relation Name"]) into.push(node["Relation Name"]);
  for (const child of node.Plans ?? []) seqScanned(child, into);
  return into;
}

let counter = 0;

/** `sql` prepared with plan_cache_mode = force_generic_plan, then `explain` run as its EXECUTE (inside a rolled-back transaction). */
async function withGenericPlan<T>(client: pg.Client, sql: string, explain: (name: string) => Promise<T>): Promise<T> {
  const name = `plan_probe_${++counter}`;
  await client.query("BEGIN");
  try {
    await client.query("SET LOCAL plan_cache_mode = force_generic_plan");
    await client.query(`PREPARE ${name} AS ${sql}`);
    return await explain(name);
  } finally {
    await client.query("ROLLBACK");
    await client.query(`DEALLOCATE ALL`);
  }
}

/**
 * Prepares `sql` (parameter types inferred, as node-postgres leaves them)
 * and explains its generic plan, whatever the parameters' values: NULL
 * stands for each. Returns the tables scanned sequentially, plan order.
 */
export async function seqScansOf(client: pg.Client, sql: string): Promise<string[]> {
  const params = Math.max(0, ...[...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
  return withGenericPlan(client, sql, async (name) => {
    const args = params > 0 ? `(${Array.from({ length: params }, () => "NULL").join(", ")})` : "";
    const { rows } = await client.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) EXECUTE ${name}${args}`);
    return seqScanned(rows[0]!["QUERY PLAN"][0].Plan, []);
  });
}

/** A parameter's text form, as node-postgres sends it (arrays as array literals, bytes as hex). */
function textOf(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return `\\x${Buffer.from(value).toString("hex")}`;
  if (Array.isArray(value)) {
    const element = (v: unknown) => {
      const t = textOf(v);
      return t === null ? "NULL" : `"${t.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    };
    return `{${value.map(element).join(",")}}`;
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** A parameter as an SQL literal (its type is the prepared statement's). */
function literal(client: pg.Client, value: unknown): string {
  const text = textOf(value);
  return text === null ? "NULL" : client.escapeLiteral(text);
}

/** Rows a plan node and its children read from `tables` (heap rows, plus the rows its filters dropped), over all loops. */
function rowsRead(node: PlanNode, tables: readonly string[]): number {
  const loops = node["Actual Loops"] ?? 1;
  const own =
    (node["Relation Name"] && tables.includes(node["Relation Name"])) || node["Node Type"] === "Bitmap Index Scan"
      ? ((node["Actual Rows"] ?? 0) + (node["Rows Removed by Filter"] ?? 0) + (node["Rows Removed by Index Recheck"] ?? 0)) * loops
      : 0;
  return own + (node.Plans ?? []).reduce((sum, child) => sum + rowsRead(child, tables), 0);
}

/**
 * Runs `sql` with `values` under its generic plan (EXPLAIN ANALYZE, rolled
 * back) and counts the rows its scans of `tables` read, those their filters
 * dropped included. Read-only statements only: it executes them.
 */
export async function rowsReadUnderGenericPlan(client: pg.Client, sql: string, values: unknown[], tables: readonly string[]): Promise<number> {
  return withGenericPlan(client, sql, async (name) => {
    const args = values.length > 0 ? `(${values.map((v) => literal(client, v)).join(", ")})` : "";
    const { rows } = await client.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE ${name}${args}`);
    return rowsRead(rows[0]!["QUERY PLAN"][0].Plan, tables);
  });
}
