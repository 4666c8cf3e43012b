/**
 * `npm start` as a newcomer runs it: no DATABASE_URL, so the embedded
 * PostgreSQL 17; it serves, stops cleanly on Ctrl-C (exit 0), and a second
 * start reuses the data.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { loadClient, unary } from "../support/foreign-client.js";

const ROOT = path.resolve(import.meta.dirname, "../..");

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface Started {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
}

function start(env: Record<string, string>): Promise<Started> {
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  const child = spawn(process.execPath, ["--import", "tsx", "src/server/main.ts"], {
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
          if (parsed.msg === "serving") resolve({ child, lines, exited });
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

describe("npm start on the embedded PostgreSQL", () => {
  it("serves, stops on SIGINT with exit 0, and reuses its data on the next start", async () => {
    const pgPort = await freePort();
    const grpcPort = await freePort();
    const env = {
      EMBEDDED_PG_DATA_DIR: path.join(dataRoot, "pg"),
      EMBEDDED_PG_PORT: String(pgPort),
      PORT: String(grpcPort),
      HOST: "127.0.0.1",
      CONNECT_PORT: "-1",
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
    expect(first.lines.some((l) => l.msg === "applied pending migrations")).toBe(true);

    const second = await start(env);
    const res = await unary(ledger, "GetCurrency", { code: "KEEPME" });
    expect(res.currency.name).toBe("survives restarts");
    expect(second.lines.some((l) => l.msg === "applied pending migrations")).toBe(false);
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    ledger.close();
    health.close();
  });
});
