/** The bench's flags (ghz names), durations and the server's start command. No database. */
import { describe, expect, it } from "vitest";
import { parseDurationMs } from "../../bench/lib/duration.js";
import { parseFlags } from "../../bench/lib/flags.js";
import { SCENARIO_NAMES } from "../../bench/lib/scenarios.js";
import { parseStartScript } from "../../bench/lib/server.js";

describe("flags", () => {
  it("defaults to the whole suite at 64 in flight, 10 s windows after 2 s of warm-up", () => {
    const o = parseFlags([]);
    expect(o.mode).toBe("suite");
    expect(o.scenarios).toEqual([...SCENARIO_NAMES]);
    expect(o).toMatchObject({ concurrency: 64, durationMs: 10_000, warmupMs: 2_000, timeoutMs: 20_000, connections: 1 });
    expect(o).toMatchObject({ accounts: 10_000, rounds: 3, format: "text", logLevel: "warn", baselines: true, pgbenchScale: 10 });
    expect(o.total).toBeUndefined();
    expect(o.rps).toBeUndefined();
    expect(o.tls.insecure).toBe(true);
  });

  it("reads ghz's short and long flags, with a space or =", () => {
    const o = parseFlags(["--call", "grpc.health.v1.Health/Check", "-c", "8", "-n=100", "-z", "3s", "--rps", "50", "-d", '{"service":""}', "-O", "json", "--connections=4", "--warmup", "500ms", "-m", '{"x-actor":"bench"}']);
    expect(o).toMatchObject({ mode: "call", call: "grpc.health.v1.Health/Check", concurrency: 8, total: 100, durationMs: 3000, rps: 50, format: "json", connections: 4, warmupMs: 500 });
    expect(o.data).toBe('{"service":""}');
    expect(o.metadata).toBe('{"x-actor":"bench"}');
  });

  it("reads -D through the injected reader, --server-env repeatedly, scenarios as a list", () => {
    const o = parseFlags(["-D", "data.json", "--server-env", "A=1", "--server-env", "B=x=y", "--scenario", "health,transfer-hot"], (p) => `{"from":"${p}"}`);
    expect(o.data).toBe('{"from":"data.json"}');
    expect(o.serverEnv).toEqual({ A: "1", B: "x=y" });
    expect(o.scenarios).toEqual(["transfer-hot", "health"]);
  });

  it("turns TLS on with certificates and picks the mode", () => {
    expect(parseFlags(["--cacert", "ca.pem"]).tls).toMatchObject({ insecure: false, cacert: "ca.pem" });
    expect(parseFlags(["--soak", "5"])).toMatchObject({ mode: "soak", soakMinutes: 5 });
    expect(parseFlags(["--print-fixture", "--ghz-data", "d"])).toMatchObject({ mode: "print-fixture", ghzDataDir: "d" });
    expect(parseFlags(["-h"]).mode).toBe("help");
  });

  it("names the flag that is wrong", () => {
    expect(() => parseFlags(["--nope"])).toThrow(/unknown flag "--nope"/);
    expect(() => parseFlags(["-z", "10"])).toThrow(/-z: "10" is not a duration/);
    expect(() => parseFlags(["-c", "0"])).toThrow(/--concurrency: "0" must be an integer from 1/);
    expect(() => parseFlags(["-d", "{}", "-D", "x"])).toThrow(/-d and -D are exclusive/);
    expect(() => parseFlags(["--cert", "c.pem"])).toThrow(/--cert and --key go together/);
    expect(() => parseFlags(["-m", '["x"]'])).toThrow(/--metadata: must be a JSON object/);
    expect(() => parseFlags(["--scenario", "warp"])).toThrow(/--scenario: unknown scenario "warp"/);
    expect(() => parseFlags(["--server-env", "=1"])).toThrow(/--server-env: "=1" is not KEY=VALUE/);
    expect(() => parseFlags(["-c", "1", "-c", "2"])).toThrow(/--concurrency given twice/);
    expect(() => parseFlags(["--call", "x", "--soak", "1"])).toThrow(/exclusive/);
    expect(() => parseFlags(["--rps"])).toThrow(/--rps needs a value/);
  });
});

describe("durations", () => {
  it("reads Go-style durations", () => {
    expect(parseDurationMs("10s", "-z")).toBe(10_000);
    expect(parseDurationMs("500ms", "-z")).toBe(500);
    expect(parseDurationMs("1m30s", "-z")).toBe(90_000);
    expect(parseDurationMs("1.5h", "-z")).toBe(5_400_000);
    expect(parseDurationMs("0", "-z")).toBe(0);
    expect(() => parseDurationMs("10x", "--warmup")).toThrow(/--warmup/);
    expect(() => parseDurationMs("25h", "-z")).toThrow(/longer than 24h/);
  });
});

describe("the server's start command", () => {
  it("comes from the node command of package.json's start script", () => {
    expect(parseStartScript("node --import tsx src/server/main.ts")).toEqual({ args: ["--import", "tsx", "src/server/main.ts"], env: {} });
    expect(parseStartScript("node dist/src/server/main.js")).toEqual({ args: ["dist/src/server/main.js"], env: {} });
    expect(parseStartScript("NODE_ENV=production exec node --enable-source-maps 'dist/src/server/main.js'")).toEqual({
      args: ["--enable-source-maps", "dist/src/server/main.js"],
      env: { NODE_ENV: "production" },
    });
  });

  it("refuses what it cannot run itself", () => {
    expect(() => parseStartScript(undefined)).toThrow(/no "start" script/);
    expect(() => parseStartScript("tsx src/server/main.ts")).toThrow(/can only run a "node …" command/);
    expect(() => parseStartScript("npm run build && node dist/main.js")).toThrow(/not a simple command/);
    expect(() => parseStartScript("node")).toThrow(/no script to run/);
  });
});
