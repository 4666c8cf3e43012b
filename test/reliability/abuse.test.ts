/**
 * HTTP/2 abuse against the compiled server in its own process (WORKERS=1):
 * rapid reset (CVE-2023-44487), a CONTINUATION flood, and hoarded idle
 * connections on both ports. Throughout each, a well-behaved client keeps
 * calling Health/Check on its own connection and must get every answer
 * within a few seconds; the server must stay alive and its RSS (from its
 * `diagnostics` log lines) bounded. docs/HTTP2.md has the guards and figures.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAlive, startCompiledTestServer, type LogLine, type TestCompiledServer } from "../support/compiled-server.js";
import { continuationFlood, oversizedHeaders, holdIdleSessions, holdIdleSockets, rapidReset, startProber } from "../support/h2-abuse.js";

/** Generous: the server idles at ~100–150 MiB; a leak per stream or per header frame would blow far past this. */
const RSS_CEILING_MIB = 400;
const IDLE_MS = 2_000;
const CONNECT_CAP = 100;

let server: TestCompiledServer;
const rssOf = (l: LogLine) => l.rssMiB as number;
const diagnostics = () => server.lines.filter((l) => l.msg === "diagnostics");
const lastRss = () => rssOf(diagnostics().at(-1)!);

beforeAll(async () => {
  server = await startCompiledTestServer({
    WORKERS: "1",
    DIAGNOSTICS_INTERVAL_MS: "250",
    GRPC_MAX_CONNECTION_IDLE_MS: String(IDLE_MS),
    CONNECT_MAX_CONNECTIONS: String(CONNECT_CAP),
  });
  await server.waitForLine((l) => l.msg === "diagnostics");
});

afterAll(async () => {
  await server?.close();
});

/** Runs `attack` while a prober calls; checks every probe answered, the process lives, RSS stayed bounded. */
async function underAttack<T>(name: string, attack: () => Promise<T>): Promise<T> {
  const before = lastRss();
  const seen = diagnostics().length;
  const prober = startProber(server.grpcAddress);
  const result = await attack();
  await new Promise((r) => setTimeout(r, 600)); // a probe and a diagnostics line after the attack
  const probes = await prober.stop();
  const during = diagnostics().slice(seen).map(rssOf);
  const peak = Math.max(before, ...during);
  console.log(`${name}: ${JSON.stringify(result)}; probes ok ${probes.ok}, failed ${probes.failures.length}, slowest ${probes.slowestMs.toFixed(0)} ms; RSS before ${before} MiB, peak ${peak} MiB, after ${lastRss()} MiB`);
  expect(probes.failures).toEqual([]);
  expect(probes.ok).toBeGreaterThan(0);
  expect(isAlive(server.pid)).toBe(true);
  expect(peak).toBeLessThan(RSS_CEILING_MIB);
  return result;
}

describe("HTTP/2 abuse", () => {
  it("rapid reset: 20 000 streams opened and cancelled at once on one connection", async () => {
    const report = await underAttack("rapid reset", () => rapidReset(server.grpcAddress, 20_000));
    expect(report.opened).toBeGreaterThanOrEqual(1000);
    // nghttp2 (>= 1.57, Node >= 20.8.1) ends a connection whose resets outrun its rate limit: GOAWAY.
    expect(report.endedBy).toMatch(/^GOAWAY/);
  });

  it("CONTINUATION flood: a header block that never ends is cut off, the connection closed", async () => {
    const report = await underAttack("CONTINUATION flood", () => continuationFlood(server.grpcPort, 20_000));
    // The block passed any header-list limit after a few frames: the server must hang up long before our budget.
    expect(report.closedByServer).toBe(true);
    expect(report.framesSent).toBeLessThan(20_000);
  });

  // Node 20.20.2 advertises SETTINGS_MAX_HEADER_LIST_SIZE 65535 but answers such a list sent raw (docs/HTTP2.md):
  // what bounds a header block is the CONTINUATION cap (9 frames of 16 KiB) and the 128 pairs.
  it("oversized header list: 100 headers of 1000 bytes (~100 KiB) in one request, 20 times, settle at once", async () => {
    const report = await underAttack("oversized headers", async () => {
      const reports = [];
      for (let i = 0; i < 20; i++) reports.push(await oversizedHeaders(server.grpcPort, 100, 1000));
      return { ...reports[0]!, times: reports.length, outcomes: [...new Set(reports.map((r) => r.outcome))] };
    });
    expect(report.frames).toBeLessThanOrEqual(8); // under the CONTINUATION cap
    expect(report.outcomes).not.toContain("no reply"); // each stream is answered, reset or its connection ended, never left hanging
  });

  it(`200 idle gRPC connections are reaped after GRPC_MAX_CONNECTION_IDLE_MS (${IDLE_MS} ms)`, async () => {
    const held = await underAttack("idle gRPC", async () => {
      const sessions = await holdIdleSessions(server.grpcAddress, 200);
      const openAtFirst = 200 - sessions.closedCount();
      const until = Date.now() + IDLE_MS * 4;
      while (sessions.closedCount() < 200 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      return { openAtFirst, closedBy: sessions.closedCount(), sessions };
    });
    held.sessions.close();
    expect(held.openAtFirst).toBe(200);
    expect(held.closedBy).toBe(200);
  });

  it(`200 idle sockets on the Connect port: no more than CONNECT_MAX_CONNECTIONS (${CONNECT_CAP}) are kept`, async () => {
    const held = await underAttack("idle Connect", async () => {
      const sockets = await holdIdleSockets(server.connectPort, 200);
      await new Promise((r) => setTimeout(r, 500));
      return { closedBy: sockets.closedCount(), sockets };
    });
    held.sockets.close();
    expect(held.closedBy).toBeGreaterThanOrEqual(200 - CONNECT_CAP);
  });
});
