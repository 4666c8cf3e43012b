/**
 * The PostgreSQL server the bench uses: DATABASE_URL's server when set
 * (fresh `bench_<random>` databases on it, dropped at the end), otherwise an
 * embedded PostgreSQL in a temporary folder, started as the project starts
 * it. The service, pgbench and the raw-SQL baseline all use this one server.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "../../src/db/embedded.js";
import { localPostmaster } from "./proc.js";
import { freePort } from "./server.js";

export interface BenchDatabase {
  source: "DATABASE_URL" | "embedded";
  /** e.g. "PostgreSQL 15.20 (…)" */
  version: string;
  /** The postmaster's pid when the server runs on this machine (its CPU is then measured). */
  postmasterPid?: number;
  /** A fresh, empty database on the server; dropped by close(). */
  createDatabase(suffix?: string): Promise<{ name: string; url: string }>;
  close(): Promise<void>;
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** libpq environment (for pgbench) equivalent to a postgres:// URL. */
export function libpqEnv(url: string): Record<string, string> {
  const u = new URL(url);
  const env: Record<string, string> = {
    PGHOST: u.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1",
    PGPORT: u.port || "5432",
    PGDATABASE: decodeURIComponent(u.pathname.slice(1)) || "postgres",
  };
  if (u.username) env.PGUSER = decodeURIComponent(u.username);
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  const sslmode = u.searchParams.get("sslmode");
  if (sslmode) env.PGSSLMODE = sslmode;
  return env;
}

/** Attempts to drop each bench database at the end. */
const DROP_ATTEMPTS = 4;
const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "[::1]", ""]);

export async function openDatabase(databaseUrl: string | undefined, log: (line: string) => void): Promise<BenchDatabase> {
  let adminUrl: string;
  let embedded: EmbeddedDatabase | undefined;
  let embeddedDir: string | undefined;
  if (databaseUrl) {
    if (!/^postgres(ql)?:\/\//.test(databaseUrl)) {
      throw new Error("DATABASE_URL: the bench needs a postgres:// or postgresql:// URL (it creates databases and runs pgbench there)");
    }
    adminUrl = databaseUrl;
  } else {
    embeddedDir = await mkdtemp(path.join(tmpdir(), "lor-bench-pg-"));
    await chmod(embeddedDir, 0o755); // PostgreSQL runs as `postgres` when we are root
    log(`starting an embedded PostgreSQL in ${embeddedDir} (no DATABASE_URL)`);
    embedded = await startEmbeddedPostgres({ dataDir: path.join(embeddedDir, "data"), port: await freePort(), database: "postgres" });
    adminUrl = embedded.adminUrl;
  }

  // A short connection per admin statement: a long-lived one can be cut (other
  // work on a shared server may terminate backends) and would fail the run.
  const admin = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: adminUrl });
    c.on("error", () => undefined); // reported by the statement that fails
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end().catch(() => undefined);
    }
  };
  const created: string[] = [];
  const runId = randomBytes(4).toString("hex");
  try {
    const host = new URL(adminUrl).hostname;
    const { version, postmasterPid } = await admin(async (c) => {
      const { rows } = await c.query<{ version: string; pid: number }>("SELECT version() AS version, pg_backend_pid() AS pid");
      return { version: rows[0]!.version.replace(/ on .*$/, ""), postmasterPid: LOCAL_HOSTS.has(host) ? localPostmaster(rows[0]!.pid) : undefined };
    });
    return {
      source: embedded ? "embedded" : "DATABASE_URL",
      version,
      postmasterPid,
      async createDatabase(suffix = "") {
        const name = `bench_${runId}${suffix ? `_${suffix}` : ""}`;
        await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE template0`));
        created.push(name);
        return { name, url: withDatabase(adminUrl, name) };
      },
      async close() {
        // An embedded cluster goes away whole, with its folder: nothing to drop one by one.
        for (const name of embedded ? [] : created.reverse()) {
          // Retried: a DROP cut short (its connection terminated) leaves an invalid database behind.
          for (let attempt = 1; ; attempt++) {
            try {
              await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
              break;
            } catch (error) {
              if (attempt >= DROP_ATTEMPTS) {
                log(`could not drop ${name}: ${(error as Error).message}`);
                break;
              }
              await new Promise((r) => setTimeout(r, 500 * attempt));
            }
          }
        }
        await embedded?.stop().catch((e: Error) => log(`could not stop the embedded PostgreSQL: ${e.message}`));
        if (embeddedDir) await rm(embeddedDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await embedded?.stop().catch(() => undefined);
    if (embeddedDir) await rm(embeddedDir, { recursive: true, force: true });
    throw error;
  }
}
