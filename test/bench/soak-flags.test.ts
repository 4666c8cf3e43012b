/** `npm run soak` flags and its trend line: pure, no server. */
import { describe, expect, it } from "vitest";
import { formatSummary, parseSoakFlags, slope } from "../../bench/lib/soak-mix.js";

describe("npm run soak flags", () => {
  it("needs --minutes or --smoke, and sizes --smoke down", () => {
    expect(() => parseSoakFlags([])).toThrow(/--minutes N \(or --smoke\) is required/);
    expect(() => parseSoakFlags(["--smoke", "--minutes", "3"])).toThrow(/exclude each other/);
    expect(() => parseSoakFlags(["--minutes", "x"])).toThrow(/--minutes: expected a number/);
    expect(() => parseSoakFlags(["--soak", "3"])).toThrow(/unknown flag "--soak"/);
    expect(parseSoakFlags(["--help"])).toBe("help");
    expect(parseSoakFlags(["--minutes", "10"])).toMatchObject({ minutes: 10, rps: undefined, peakFraction: 0.7, intervalMs: 30_000, accounts: 2000, workers: 1 });
    expect(parseSoakFlags(["--smoke"])).toMatchObject({ minutes: 0.25, smoke: true, intervalMs: 3_000, accounts: 200, peakMs: 3_000 });
    expect(parseSoakFlags(["--minutes=2", "--rps", "300", "--interval", "10s"])).toMatchObject({ minutes: 2, rps: 300, intervalMs: 10_000 });
  });

  it("reports errors by code and the RSS trend", () => {
    expect(slope([[0, 100], [1, 102], [2, 104]])).toBeCloseTo(2);
    expect(slope([[0, 1]])).toBeUndefined();
    const text = formatSummary({
      rps: 100,
      minutes: 1,
      rows: [{ elapsedS: 30, callsPerS: 100, errors: 1, p99Ms: 5, rssMiB: 200 }, { elapsedS: 60, callsPerS: 100, errors: 0, p99Ms: 5, rssMiB: 230 }],
      codes: { OK: 5999, UNAVAILABLE: 1 },
      firstErrors: { UNAVAILABLE: "Transfer overloaded" },
    });
    expect(text).toContain("| UNAVAILABLE | 1 |");
    expect(text).toContain("errors: 1 (UNAVAILABLE 1: Transfer overloaded)");
    expect(text).toContain("trend 60.00 MiB/min");
  });
});
