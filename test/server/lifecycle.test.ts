/**
 * `npm start` as a newcomer runs it: the compiled JavaScript (what the image
 * ships), no DATABASE_URL, so the embedded PostgreSQL 17; it serves, stops
 * cleanly on Ctrl-C (exit 0), and a second start reuses the data. A start
 * that fails leaves nothing running, and a bad setting stops it by name.
 * Each in one process (WORKERS=1) and as a cluster of two workers, where
 * the primary alone starts the embedded server and migrates.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createEmptyDatabase, createTestDatabase } from "../support/db.js";
import { loadClient, unary } from "../support/foreign-client.js";
import { freePort } from "../support/free-port.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
/** What `npm start` runs (package.json), built by `npm install` / `npm test`. */
const MAIN = "dist/src/server/main.js";


interface Started {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
}

function start(env: Record<string, string>): Promise<Started> {
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: { ...inherited, LOG_LEVEL: "info", LOG_PRETTY: "false", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Record<string, unknown>[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    let buffer = "";
    child.stdout!.on("data", (chunk) => {
      buffer += chunk;
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          const parsed = JSON.parse(line);
          lines.push(parsed);
          // One process serving, or the primary once every worker serves.
          if ((parsed.msg === "serving" && parsed.cluster === undefined) || parsed.msg === "all workers serving") resolve({ child, lines, exited });
        } catch {
          /* not JSON */
        }
      }
    });
    exited.then((code) => reject(new Error(`server exited with ${code} before serving: ${stderr}`)));
  });
}

const dataRoot = await mkdtemp(path.join(tmpdir(), "lor-lifecycle-"));
await chmod(dataRoot, 0o755); // PostgreSQL runs as `postgres` when we are root
afterAll(async () => {
  await rm(dataRoot, { recursive: true, force: true });
});

describe.each(["1", "2"])("npm start on the embedded PostgreSQL, WORKERS=%s", (workers) => {
  it("serves, stops on SIGINT with exit 0, and reuses its data on the next start", async () => {
    const pgPort = await freePort();
    const grpcPort = await freePort();
    const env = {
      WORKERS: workers,
      EMBEDDED_PG_DATA_DIR: path.join(dataRoot, `pg-${workers}`),
      EMBEDDED_PG_PORT: String(pgPort),
      PORT: String(grpcPort),
      HOST: "127.0.0.1",
      CONNECT_PORT: "-1", METRICS_PORT: "-1",
    };

    const first = await start(env);
    const ledger = loadClient("aevon/ledger/v1/ledger.proto", "aevon.ledger.v1.LedgerService", `127.0.0.1:${grpcPort}`);
    const health = loadClient("grpc/health/v1/health.proto", "grpc.health.v1.Health", `127.0.0.1:${grpcPort}`);
    expect((await unary(health, "Check", { service: "" })).status).toBe("SERVING");
    expect((await unary(ledger, "ListCurrencies", {})).currencies.length).toBeGreaterThan(0);

    // A row written in the first life must be there in the second.
    const client = new pg.Client({ connectionString: `postgresql://postgres:postgres@127.0.0.1:${pgPort}/ledger` });
    await client.connect();
    await client.query("INSERT INTO currencies (code, scale, name) VALUES ('KEEPME', 0, 'survives restarts')");
    await client.end();

    first.child.kill("SIGINT");
    expect(await first.exited).toBe(0);
    expect(first.lines.some((l) => l.msg === "stopped")).toBe(true);
    // Once per instance, whatever the number of workers: one embedded server, one migration run, then the workers.
    const once = (lines: Record<string, unknown>[], msg: string) => lines.filter((l) => l.msg === msg).map((l) => l.cluster ?? "single");
    const by = workers === "1" ? "single" : "primary";
    expect(once(first.lines, "applied pending migrations")).toEqual([by]);
    expect(once(first.lines, "embedded PostgreSQL ready")).toEqual([by]);
    expect(first.lines.filter((l) => l.msg === "serving").length).toBe(Number(workers));

    const second = await start(env);
    const res = await unary(ledger, "GetCurrency", { code: "KEEPME" });
    expect(res.currency.name).toBe("survives restarts");
    expect(second.lines.some((l) => l.msg === "applied pending migrations")).toBe(false);
    expect(once(second.lines, "embedded PostgreSQL ready")).toEqual([by]);
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    // Stopped with the service: nothing listens on its port any more.
    expect(await portIsOpen(pgPort)).toBe(false);
    ledger.close();
    health.close();
  });
});

/** Runs the compiled server to its exit; returns the exit code and everything it printed. */
function runToExit(env: Record<string, string>, viaTty = false): Promise<{ code: number | null; output: string }> {
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  // `script` gives the child a terminal, as `docker run -it` does.
  const [command, args] = viaTty ? ["script", ["-qec", `${process.execPath} ${MAIN}`, "/dev/null"]] : [process.execPath, [MAIN]];
  const child = spawn(command as string, args as string[], { cwd: ROOT, env: { ...inherited, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, output })));
}

async function portIsOpen(port: number): Promise<boolean> {
  const client = new pg.Client({ connectionString: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

describe.each(["1", "2"])("a start that cannot serve, WORKERS=%s", (workers) => {
  it("exits non-zero with the reason when its port is taken, and leaves no job, timer or embedded PostgreSQL behind", async () => {
    const taken = createServer().listen(0, "127.0.0.1");
    await new Promise((r) => taken.once("listening", r));
    const pgPort = await freePort();
    try {
      const { code, output } = await runToExit({
        WORKERS: workers,
        EMBEDDED_PG_DATA_DIR: path.join(dataRoot, `pg-taken-${workers}`),
        EMBEDDED_PG_PORT: String(pgPort),
        PORT: String((taken.address() as { port: number }).port),
        HOST: "127.0.0.1",
        CONNECT_PORT: "-1", METRICS_PORT: "-1",
        LOG_LEVEL: "info",
      });
      expect(code).toBe(1);
      expect(output).toMatch(/EADDRINUSE|address already in use|No address added/i);
      // It exited on its own (no timer or job kept it alive), and it stopped its PostgreSQL.
      expect(await portIsOpen(pgPort)).toBe(false);
    } finally {
      taken.close();
    }
  });

  it("stops on a malformed setting with a message naming it, and no stack trace", async () => {
    const { code, output } = await runToExit({ WORKERS: workers, LOG_LEVEL: "loud", DATABASE_URL: "" });
    expect(code).toBe(2);
    expect(output).toContain("LOG_LEVEL must be one of");
    expect(output).not.toMatch(/\n\s+at /);
  });

  it("stops on a certificate it cannot read, before any migration, with the message of one process", async () => {
    // Empty: had the start got as far as migrations, tables would appear.
    const database = await createEmptyDatabase();
    const tables = async () =>
      (await database.sql<{ n: number }>("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'")).rows[0]!.n;
    const { code, output } = await runToExit({
      WORKERS: workers,
      DATABASE_URL: database.url,
      HOST: "127.0.0.1",
      PORT: "0",
      CONNECT_PORT: "-1", METRICS_PORT: "-1",
      TLS_CERT_FILE: "/nonexistent/server.crt",
      TLS_KEY_FILE: "/nonexistent/server.key",
    });
    const migrated = await tables().finally(() => database.drop());
    expect(code).toBe(1);
    expect(migrated).toBe(0);
    const fatal = output
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((l) => l.level === 60);
    expect(fatal[0]?.msg).toBe("TLS_CERT_FILE /nonexistent/server.crt: ENOENT");
  });

});

describe("settings of the compiled server", () => {
  it("refuses a WORKERS outside 1..64, naming it", async () => {
    for (const bad of ["0", "65", "two"]) {
      const { code, output } = await runToExit({ WORKERS: bad, DATABASE_URL: "" });
      expect(code).toBe(2);
      expect(output).toMatch(/WORKERS must be (between 1 and 64|an integer)/);
    }
  });

  it("writes JSON lines on a terminal (pretty output is never needed at run time)", async () => {
    const { output } = await runToExit({ LOG_LEVEL: "info", PORT: "not-a-port" }, true);
    const lines = output.split(/\r?\n/).filter((l) => l.trim() !== "");
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
  });
});
