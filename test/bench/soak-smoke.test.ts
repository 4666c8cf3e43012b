/**
 * `npm run soak -- --smoke`: the soak end to end for ~15 s against the test
 * PostgreSQL server (its admin URL: the soak creates and drops its own
 * database there). The table must print with the server's diagnostics (RSS,
 * heap, event-loop delay) and the audit seal lag filled in, and no call may fail.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { expect, inject, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");

function runSmoke(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "bench/soak.ts", "--smoke"], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: inject("adminUrl") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

it("npm run soak -- --smoke prints its table, with server diagnostics and seal lag, and no errors", async () => {
  const { code, stdout, stderr } = await runSmoke();
  expect(code, stderr).toBe(0);
  const summary = stdout.slice(stdout.lastIndexOf("\nSoak:"));
  expect(summary).toContain("| t (s) | calls/s | errors |");
  const rows = summary.split("\n").filter((l) => /^\| \d+ \|/.test(l));
  expect(rows.length).toBeGreaterThanOrEqual(3);
  for (const row of rows) {
    const cells = row.split("|").map((c) => c.trim());
    expect(cells[3], row).toBe("0"); // errors in the interval
    expect(Number(cells[5]), `RSS in ${row}`).toBeGreaterThan(0); // from the diagnostics line
    expect(Number(cells[7]), `loop delay in ${row}`).toBeGreaterThanOrEqual(0);
    expect(cells[8], `unsealed in ${row}`).toMatch(/^\d+$/);
  }
  expect(summary).toMatch(/\| OK \| \d+ \|/);
  expect(summary).toContain("errors: 0\n");
}, 120_000);
