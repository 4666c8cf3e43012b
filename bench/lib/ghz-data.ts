/**
 * ghz data files for the seeded fixture: per scenario call, a JSON array of
 * requests (ghz sends them round-robin) with the fixture's ids filled in and
 * `{{newUUID}}` left for ghz to expand per call, so idempotency keys stay
 * unique. Made from the same templates the bench uses.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GET_BALANCE_DATA, GET_USER_DATA, TRANSFER_HOT_DATA, TRANSFER_UNIFORM_DATA } from "./scenarios.js";
import { compileTemplate, type Fixture } from "./template.js";

/** Most requests per data file: enough to spread over the wallets, small enough to load fast. */
export const MAX_GHZ_DATA_ENTRIES = 10_000;
const SENTINEL = "__GHZ_NEW_UUID__";

export const GHZ_DATA_FILES: Record<string, string> = {
  "transfer-uniform.json": TRANSFER_UNIFORM_DATA,
  "transfer-hot.json": TRANSFER_HOT_DATA,
  "get-balance.json": GET_BALANCE_DATA,
  "get-user.json": GET_USER_DATA,
};

/** The array for one template: `count` renders with fixture ids, `{{newUUID}}` kept for ghz. */
export function ghzDataArray(template: string, fixture: Fixture, count: number): unknown[] {
  const t = compileTemplate(template.replaceAll("{{newUUID}}", SENTINEL), "ghz data", { fixture });
  return Array.from({ length: count }, (_, i) => {
    const text = t.render({ requestNumber: i, workerId: "ghz", fullName: "", inputName: "", outputName: "" });
    return JSON.parse(text.replaceAll(SENTINEL, "{{newUUID}}")) as unknown;
  });
}

/** Writes every data file into `dir`; returns their paths. */
export function writeGhzData(dir: string, fixture: Fixture): string[] {
  mkdirSync(dir, { recursive: true });
  const count = Math.min(MAX_GHZ_DATA_ENTRIES, Math.max(fixture.accounts.length, fixture.users.length));
  return Object.entries(GHZ_DATA_FILES).map(([name, template]) => {
    const path = join(dir, name);
    writeFileSync(path, `[\n${ghzDataArray(template, fixture, count).map((x) => JSON.stringify(x)).join(",\n")}\n]\n`);
    return path;
  });
}
