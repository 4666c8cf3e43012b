/** bench/transfer-cpu.ts runs as documented (it once broke silently when accounts began to need registered users). */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, inject, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");

describe("bench/transfer-cpu.ts", () => {
  it("measures a few transfers and prints the CPU per transfer and per store call", () => {
    const run = spawnSync(process.execPath, ["--import", "tsx", "bench/transfer-cpu.ts"], {
      cwd: ROOT,
      env: { ...process.env, N: "20", BENCH_DATABASE_URL: inject("adminUrl") },
      encoding: "utf8",
      timeout: 120_000,
    });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^transfer cpu\/op ms \d+\.\d+/m);
    expect(run.stdout).toMatch(/^postTransfers \d+\.\d+$/m);
    expect(run.stdout).toMatch(/^claimAndLockAccounts \d+\.\d+$/m);
  });
});
