/**
 * Transfer throughput: the service's gRPC Transfer against the same
 * double-entry posting as hand-written SQL over a bare `pg` pool.
 *
 *   1. service: aevon.ledger.v1.LedgerService/Transfer through a raw grpc-js
 *      client (protobuf-es codecs), amount 1 between random pairs of 10,000
 *      funded USD accounts, BENCH_CONCURRENCY calls in flight on one HTTP/2
 *      connection, each with a unique idempotency key. The server runs in a
 *      child process (`node --import tsx src/server/main.ts`) on a fresh
 *      database, DB_POOL_MAX = BENCH_POOL_MAX (default 10), LOG_LEVEL =
 *      BENCH_LOG_LEVEL (default info; its stdout goes to a temp file).
 *   2. raw SQL: a `pg` Pool of BENCH_CONCURRENCY clients in this process,
 *      BENCH_CONCURRENCY transfers in flight, named (prepared) statements,
 *      pgbench-style, over a SEPARATE set of 10,000 funded accounts:
 *
 *        BEGIN
 *        UPDATE accounts SET posted = posted - $2, version = version + 1, updated_at = now()
 *          WHERE id = $1 AND status = 'ACTIVE' RETURNING posted, version        -- debit  \ in account-id
 *        UPDATE accounts SET posted = posted + $2, version = version + 1, updated_at = now()
 *          WHERE id = $1 AND status = 'ACTIVE' RETURNING posted, version        -- credit / order (no deadlocks)
 *        INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, currency_code, amount,
 *          idempotency_key, created_at) VALUES ($1, 'TRANSFER', $2, $3, 'USD', $4, $5, now())
 *        INSERT INTO entries (transfer_id, account_id, amount, balance_after, account_version, created_at)
 *          VALUES ($1, debit, -amount, …, now()), ($1, credit, amount, …, now())   -- one statement, two rows
 *        COMMIT
 *
 *      (The funds check is the table's CHECK accounts_available_within_policy.)
 *   3. the ratio service/raw, and conservation checked in SQL afterwards.
 *
 * Each phase: 2 s warm-up, then a BENCH_SECONDS (default 10) window. CPU over
 * the window is read from /proc for the server process, for the local
 * PostgreSQL (postmaster and its children) and for the whole machine.
 *
 * Data: a fresh database `bench_<random>` on the server of BENCH_DATABASE_URL
 * (default postgresql://postgres@127.0.0.1:5432/test, used only to CREATE and
 * DROP it). The server applies the migrations; the 20,000 user accounts are
 * then seeded in one SQL transaction, each funded by a real transfer of
 * 1,000,000 from the USD issuance account (transfers + entries rows, balances
 * and dense versions), so the books balance before the first benchmark call.
 *
 *   npx tsx bench/transfers.ts      BENCH_SECONDS=10 BENCH_CONCURRENCY=64 BENCH_POOL_MAX=10
 *   (also BENCH_RAW_POOL_MAX, BENCH_ACCOUNTS, BENCH_LOG_LEVEL, BENCH_DATABASE_URL, BENCH_SERVER_NODE_ARGS)
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync, readdirSync, readFileSync, unlinkSync } from "node:fs";
import { connect, createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import pg from "pg";
import { TransferRequestSchema, TransferResponseSchema } from "../src/gen/aevon/ledger/v1/ledger_pb.js";
import { uuidv7 } from "../src/lib/ids.js";

// ───────────────────────────── settings ─────────────────────────────

function intEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number >= ${min}, got "${raw}"`);
  return value;
}

const SECONDS = intEnv("BENCH_SECONDS", 10, 0.1);
const CONCURRENCY = Math.floor(intEnv("BENCH_CONCURRENCY", 64, 1));
const POOL_MAX = Math.floor(intEnv("BENCH_POOL_MAX", 10, 1));
/** Size of the raw run's pg Pool; default BENCH_CONCURRENCY (one connection per transfer in flight, like pgbench -c). */
const RAW_POOL_MAX = Math.floor(intEnv("BENCH_RAW_POOL_MAX", CONCURRENCY, 1));
const ACCOUNTS = Math.floor(intEnv("BENCH_ACCOUNTS", 10_000, 2));
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL || "info";
const ADMIN_URL = process.env.BENCH_DATABASE_URL || "postgresql://postgres@127.0.0.1:5432/test";
const WARMUP_MS = 2_000;
const FUNDING = 1_000_000n;
const AMOUNT = 1n;
const TRANSFER_PATH = "/aevon.ledger.v1.LedgerService/Transfer";
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const RUN_ID = randomBytes(4).toString("hex");
const CLK_TCK = 100; // Linux USER_HZ; /proc times are in these ticks

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const identity = (b: Buffer): Buffer => b;

// ───────────────────────────── CPU accounting (/proc) ─────────────────────────────

/** utime+stime of a process, ms; undefined if it is gone or unreadable. */
function procCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields[0] is field 3 (state)
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}

function procPpid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/** CPU of the postmaster and all its children (backends, WAL writer, …), per pid. */
function postgresCpu(postmaster: number | undefined): Map<number, number> {
  const out = new Map<number, number>();
  if (postmaster === undefined) return out;
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid !== postmaster && procPpid(pid) !== postmaster) continue;
    const ms = procCpuMs(pid);
    if (ms !== undefined) out.set(pid, ms);
  }
  return out;
}

/** Busy and total CPU time of the machine (all cores), ms. */
function machineCpu(): { busyMs: number; totalMs: number } {
  const [line] = readFileSync("/proc/stat", "utf8").split("\n");
  const v = line!.trim().split(/\s+/).slice(1, 9).map(Number); // user nice system idle iowait irq softirq steal
  const total = v.reduce((a, b) => a + b, 0);
  const idle = v[3]! + v[4]!;
  return { busyMs: ((total - idle) * 1000) / CLK_TCK, totalMs: (total * 1000) / CLK_TCK };
}

interface CpuSnapshot {
  server?: number;
  pg: Map<number, number>;
  bench: NodeJS.CpuUsage;
  machine: { busyMs: number; totalMs: number };
}

function snapshot(serverPid: number | undefined, postmaster: number | undefined): CpuSnapshot {
  return {
    server: serverPid === undefined ? undefined : procCpuMs(serverPid),
    pg: postgresCpu(postmaster),
    bench: process.cpuUsage(),
    machine: machineCpu(),
  };
}

interface CpuWindow {
  serverMs?: number;
  pgMs?: number;
  benchMs: number;
  machineBusyPct: number; // of all cores
  /** Busy CPU of the machine not accounted for by the server, this process or PostgreSQL: other work on the box. */
  otherMs: number;
  cores: number;
}

function cpuBetween(a: CpuSnapshot, b: CpuSnapshot, postmaster: number | undefined): CpuWindow {
  let pgMs: number | undefined;
  if (postmaster !== undefined) {
    pgMs = 0;
    // Processes that started inside the window count from 0; ones that ended are lost (rare: pools stay open).
    for (const [pid, ms] of b.pg) pgMs += ms - (a.pg.get(pid) ?? 0);
  }
  const benchUs = b.bench.user - a.bench.user + (b.bench.system - a.bench.system);
  const elapsedTotal = b.machine.totalMs - a.machine.totalMs;
  const server = a.server !== undefined && b.server !== undefined ? b.server - a.server : undefined;
  const busy = b.machine.busyMs - a.machine.busyMs;
  return {
    serverMs: server,
    otherMs: Math.max(0, busy - (server ?? 0) - (pgMs ?? 0) - benchUs / 1000),
    pgMs,
    benchMs: benchUs / 1000,
    machineBusyPct: elapsedTotal > 0 ? (busy / elapsedTotal) * 100 : NaN,
    cores: readFileSync("/proc/stat", "utf8").split("\n").filter((l) => /^cpu\d+ /.test(l)).length,
  };
}

// ───────────────────────────── database setup ─────────────────────────────

function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = "/" + name;
  return url.toString();
}

function isLocalHost(adminUrl: string): boolean {
  const host = new URL(adminUrl).hostname;
  return host === "127.0.0.1" || host === "localhost" || host === "::1" || host === "[::1]" || host === "";
}

/** The local postmaster's pid (parent of our backend), when the server is on this machine. */
async function findPostmaster(client: pg.Client, adminUrl: string): Promise<number | undefined> {
  if (!isLocalHost(adminUrl)) return undefined;
  const { rows } = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
  const ppid = procPpid(rows[0]!.pid);
  if (ppid === undefined) return undefined;
  try {
    return readFileSync(`/proc/${ppid}/comm`, "utf8").trim().startsWith("postgres") ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * 2 × ACCOUNTS user accounts (USD, min_balance 0), each funded with a
 * transfer of FUNDING from the USD issuance account: transfers and entries
 * rows, balances and versions as the service itself would have written them.
 * Returns the two sets' ids.
 */
async function seed(url: string): Promise<{ service: string[]; raw: string[] }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("BEGIN");
    const { rows: iss } = await client.query<{ id: string; posted: string; version: string }>(
      `SELECT id, posted, version FROM accounts
       WHERE owner_type = 'SYSTEM' AND owner_id = 'issuance' AND currency_code = 'USD' FOR UPDATE`,
    );
    if (iss.length !== 1) throw new Error("the USD issuance account is missing");
    const issuance = iss[0]!;
    const n = 2 * ACCOUNTS;
    await client.query(
      `CREATE TEMP TABLE bench_seed ON COMMIT DROP AS
       SELECT g AS n, CASE WHEN g <= $2 THEN 'svc' ELSE 'raw' END AS set,
              gen_random_uuid() AS account_id, gen_random_uuid() AS transfer_id
       FROM generate_series(1, $1::int) g`,
      [n, ACCOUNTS],
    );
    await client.query(
      `INSERT INTO accounts (id, owner_type, owner_id, currency_code, label, min_balance, posted, version, created_at, updated_at)
       SELECT account_id, 'USER', gen_random_uuid()::text, 'USD', 'bench-' || set, 0, $1::bigint, 1, now(), now()
       FROM bench_seed ORDER BY n`,
      [FUNDING.toString()],
    );
    await client.query(
      `INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, currency_code, amount, idempotency_key, memo, created_at)
       SELECT transfer_id, 'TRANSFER', $1::uuid, account_id, 'USD', $2::bigint, 'bench-seed-' || $3 || '-' || n, 'bench funding', now()
       FROM bench_seed ORDER BY n`,
      [issuance.id, FUNDING.toString(), RUN_ID],
    );
    // Per transfer: the issuance's debit entry (its version v0+n, balance p0-n·F), then the account's credit entry (version 1).
    await client.query(
      `INSERT INTO entries (transfer_id, account_id, amount, balance_after, account_version, created_at)
       SELECT s.transfer_id,
              CASE WHEN side = 0 THEN $1::uuid ELSE s.account_id END,
              CASE WHEN side = 0 THEN -$2::bigint ELSE $2::bigint END,
              CASE WHEN side = 0 THEN $3::bigint - s.n * $2::bigint ELSE $2::bigint END,
              CASE WHEN side = 0 THEN $4::bigint + s.n ELSE 1 END,
              now()
       FROM bench_seed s CROSS JOIN (VALUES (0), (1)) AS sides(side)
       ORDER BY s.n, side`,
      [issuance.id, FUNDING.toString(), issuance.posted, issuance.version],
    );
    await client.query(
      `UPDATE accounts SET posted = posted - $2::bigint * $3::bigint, version = version + $3::bigint, updated_at = now() WHERE id = $1`,
      [issuance.id, FUNDING.toString(), n],
    );
    const { rows } = await client.query<{ account_id: string; set: string }>("SELECT account_id, set FROM bench_seed ORDER BY n");
    await client.query("COMMIT");
    await client.query("VACUUM ANALYZE accounts, transfers, entries");
    return {
      service: rows.filter((r) => r.set === "svc").map((r) => r.account_id),
      raw: rows.filter((r) => r.set === "raw").map((r) => r.account_id),
    };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}

interface Conservation {
  ok: boolean;
  lines: string[];
}

async function checkConservation(url: string, expect: { prefix: string; count: number }[]): Promise<Conservation> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const lines: string[] = [];
  let ok = true;
  const fail = (msg: string) => {
    ok = false;
    lines.push(`FAILED: ${msg}`);
  };
  try {
    const sums = await client.query<{ currency_code: string; total: string; n: string }>(
      "SELECT currency_code, sum(posted)::text AS total, count(*)::text AS n FROM accounts GROUP BY 1 ORDER BY 1",
    );
    for (const r of sums.rows) {
      if (r.total !== "0") fail(`sum(posted) of ${r.currency_code} is ${r.total}, not 0`);
    }
    lines.push(`per currency sum(posted): ${sums.rows.map((r) => `${r.currency_code}=${r.total} (${r.n} accounts)`).join(", ")}`);

    const accounts = await client.query<{ bad: string; checked: string }>(
      `SELECT count(*) FILTER (WHERE a.posted <> coalesce(e.total, 0)
                                  OR a.version <> coalesce(e.n, 0)
                                  OR a.version <> coalesce(e.max_version, 0)
                                  OR a.pending_debit <> 0 OR a.pending_credit <> 0)::text AS bad,
              count(*)::text AS checked
       FROM accounts a
       LEFT JOIN (SELECT account_id, sum(amount) AS total, count(*) AS n, max(account_version) AS max_version
                  FROM entries GROUP BY account_id) e ON e.account_id = a.id`,
    );
    const acc = accounts.rows[0]!;
    if (acc.bad !== "0") fail(`${acc.bad} accounts with posted <> sum(entries) or versions not dense`);
    lines.push(`accounts: posted = sum(entries.amount) and version = #entries = max(account_version): ${acc.checked} checked, ${acc.bad} bad`);

    const last = await client.query<{ bad: string }>(
      `SELECT count(*)::text AS bad FROM accounts a
       JOIN LATERAL (SELECT balance_after FROM entries WHERE account_id = a.id ORDER BY account_version DESC LIMIT 1) l ON true
       WHERE l.balance_after <> a.posted`,
    );
    if (last.rows[0]!.bad !== "0") fail(`${last.rows[0]!.bad} accounts whose last entry's balance_after <> posted`);
    lines.push(`last entry's balance_after = posted: ${last.rows[0]!.bad} bad`);

    const transfers = await client.query<{ bad: string; n: string }>(
      `SELECT count(*) FILTER (WHERE coalesce(e.n, 0) <> 2 OR e.total <> 0 OR e.debit <> -t.amount)::text AS bad, count(*)::text AS n
       FROM transfers t
       LEFT JOIN (SELECT transfer_id, count(*) AS n, sum(amount) AS total, min(amount) AS debit FROM entries GROUP BY transfer_id) e
         ON e.transfer_id = t.id`,
    );
    if (transfers.rows[0]!.bad !== "0") fail(`${transfers.rows[0]!.bad} transfers without exactly two entries summing to 0`);
    lines.push(`transfers: ${transfers.rows[0]!.n}, each with two entries summing to 0: ${transfers.rows[0]!.bad} bad`);

    for (const { prefix, count } of expect) {
      const { rows } = await client.query<{ n: string }>("SELECT count(*)::text AS n FROM transfers WHERE idempotency_key LIKE $1", [prefix + "%"]);
      if (Number(rows[0]!.n) !== count) fail(`${rows[0]!.n} transfers with key ${prefix}*, but ${count} acknowledged`);
      lines.push(`transfers with key ${prefix}*: ${rows[0]!.n} in the table, ${count} acknowledged to the client`);
    }
  } finally {
    await client.end();
  }
  return { ok, lines };
}

// ───────────────────────────── the server child ─────────────────────────────

interface Server {
  child: ChildProcess;
  port: number;
  logPath: string;
}

function tail(path: string, lines = 20): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

const SERVER_LOG = join(tmpdir(), `bench-transfers-${RUN_ID}.log`);

/** A port free right now on 127.0.0.1 (the kernel picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function startService(url: string, children: Set<ChildProcess>): Promise<Server> {
  const logPath = SERVER_LOG;
  const port = await freePort();
  const fd = openSync(logPath, "w");
  // BENCH_SERVER_NODE_ARGS: extra node flags for the server only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const extra = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...extra, "--import", "tsx", "src/server/main.ts"], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      DATABASE_URL: url,
      PORT: String(port),
      CONNECT_PORT: "-1",
    METRICS_PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL,
      LOG_PRETTY: "false",
      DB_POOL_MAX: String(POOL_MAX),
      SHUTDOWN_DRAIN_MS: "2000",
    },
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  children.add(child);
  let exited: string | undefined;
  child.once("exit", (code, signal) => (exited = `code ${code}, signal ${signal}`));
  // Ready when it logs "serving" (LOG_LEVEL info and below). At warn/error/silent
  // there is no such line: the gRPC port accepting connections is the same moment
  // (app.ts binds it last, right before logging "serving").
  const logsServing = ["trace", "debug", "info"].includes(LOG_LEVEL);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`server exited during start-up (${exited}):\n${tail(logPath)}`);
    if (Date.now() > deadline) throw new Error(`server not serving within 60 s:\n${tail(logPath)}`);
    if (logsServing) {
      for (const line of readFileSync(logPath, "utf8").split("\n")) {
        if (!line.includes('"serving"')) continue;
        try {
          const parsed = JSON.parse(line) as { msg?: string; grpcPort?: number };
          if (parsed.msg === "serving") {
            if (parsed.grpcPort !== port) throw new Error(`server serves on ${parsed.grpcPort}, not on PORT=${port}`);
            return { child, port, logPath };
          }
        } catch (error) {
          if (!(error instanceof SyntaxError)) throw error; // SyntaxError: a partial line, read again
        }
      }
    } else if (await canConnect(port)) {
      return { child, port, logPath };
    }
    await sleep(50);
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

// ───────────────────────────── load generation ─────────────────────────────

interface PhaseResult {
  name: string;
  ok: number; // successes inside the window
  okTotal: number; // all successes (warm-up and drain included): must all be in the table
  elapsedS: number;
  p50: number;
  p99: number;
  errors: Map<string, { count: number; first: string }>;
  errorsInWindow: number;
  cpu: CpuWindow;
  stillInFlight: number;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function randomPair(ids: string[]): [string, string] {
  const i = Math.floor(Math.random() * ids.length);
  let j = Math.floor(Math.random() * (ids.length - 1));
  if (j >= i) j++;
  return [ids[i]!, ids[j]!];
}

/**
 * Keeps CONCURRENCY operations in flight: warm-up, measured window, drain.
 * `op` resolves on success and rejects with a { key, message } on failure.
 */
async function drive(
  name: string,
  op: () => Promise<void>,
  classify: (error: unknown) => { key: string; message: string },
  cpu: () => CpuSnapshot,
  cpuWindow: (a: CpuSnapshot, b: CpuSnapshot) => CpuWindow,
): Promise<PhaseResult> {
  let measuring = false;
  let stopping = false;
  let inFlight = 0;
  let okTotal = 0;
  let errorsInWindow = 0;
  const errors = new Map<string, { count: number; first: string }>();
  const latencies: number[] = [];
  const loop = async () => {
    while (!stopping) {
      inFlight++;
      const t0 = performance.now();
      try {
        await op();
        okTotal++;
        if (measuring) latencies.push(performance.now() - t0);
      } catch (error) {
        const { key, message } = classify(error);
        const e = errors.get(key);
        if (e) e.count++;
        else errors.set(key, { count: 1, first: message });
        if (measuring) errorsInWindow++;
        // Don't spin on a dead server.
        if (errors.size > 0 && okTotal === 0 && [...errors.values()].reduce((a, b) => a + b.count, 0) > 1000) stopping = true;
      } finally {
        inFlight--;
      }
    }
  };
  const loops = Array.from({ length: CONCURRENCY }, () => loop());
  await sleep(WARMUP_MS);
  const before = cpu();
  const t0 = performance.now();
  measuring = true;
  await sleep(SECONDS * 1000);
  measuring = false;
  const elapsedS = (performance.now() - t0) / 1000;
  const after = cpu();
  stopping = true;
  const drained = await Promise.race([Promise.all(loops).then(() => true), sleep(15_000).then(() => false)]);
  const sorted = Float64Array.from(latencies).sort();
  return {
    name,
    ok: latencies.length,
    okTotal,
    elapsedS,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    errors,
    errorsInWindow,
    cpu: cpuWindow(before, after),
    stillInFlight: drained ? 0 : inFlight,
  };
}

async function runService(port: number, ids: string[], cpu: () => CpuSnapshot, cpuWindow: (a: CpuSnapshot, b: CpuSnapshot) => CpuWindow) {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  let seq = 0;
  const requestBytes = () => {
    const [debit, credit] = randomPair(ids);
    const req = create(TransferRequestSchema, {
      idempotencyKey: `bench-svc-${RUN_ID}-${++seq}`,
      debitAccountId: debit,
      creditAccountId: credit,
      amount: AMOUNT,
      currency: "USD",
    });
    return Buffer.from(toBinary(TransferRequestSchema, req));
  };
  const call = (bytes: Buffer) =>
    new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(TRANSFER_PATH, identity, identity, bytes, (err, res) => (err ? reject(err) : resolve(res!))),
    );
  try {
    // One checked call first: a fast benchmark of wrong answers is worthless.
    const first = fromBinary(TransferResponseSchema, await call(requestBytes()));
    const t = first.transfer;
    if (!t || t.amount !== AMOUNT || t.debitBalanceAfter !== FUNDING - AMOUNT || t.debitAccountVersion !== 2n) {
      throw new Error(`unexpected first Transfer reply: ${JSON.stringify(t, (_k, v) => (typeof v === "bigint" ? String(v) : v))}`);
    }
    const result = await drive(
      "service: gRPC Transfer",
      async () => {
        await call(requestBytes());
      },
      (error) => {
        const e = error as grpc.ServiceError;
        const code = typeof e?.code === "number" ? (grpc.status[e.code] ?? String(e.code)) : "CLIENT";
        return { key: code, message: e?.details ?? String(error) };
      },
      cpu,
      cpuWindow,
    );
    result.okTotal += 1; // the checked call
    return result;
  } finally {
    client.close();
  }
}

const SQL = {
  debit: `UPDATE accounts SET posted = posted - $2, version = version + 1, updated_at = now()
          WHERE id = $1 AND status = 'ACTIVE' RETURNING posted, version`,
  credit: `UPDATE accounts SET posted = posted + $2, version = version + 1, updated_at = now()
           WHERE id = $1 AND status = 'ACTIVE' RETURNING posted, version`,
  transfer: `INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, currency_code, amount, idempotency_key, created_at)
             VALUES ($1, 'TRANSFER', $2, $3, 'USD', $4, $5, now())`,
  entries: `INSERT INTO entries (transfer_id, account_id, amount, balance_after, account_version, created_at)
            VALUES ($1, $2, $3, $4, $5, now()), ($1, $6, $7, $8, $9, now())`,
};

async function runRaw(url: string, ids: string[], cpu: () => CpuSnapshot, cpuWindow: (a: CpuSnapshot, b: CpuSnapshot) => CpuWindow) {
  const pool = new pg.Pool({ connectionString: url, max: RAW_POOL_MAX, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 30_000 });
  pool.on("error", () => undefined); // an idle client dying is reported by the next query
  let seq = 0;
  const amount = AMOUNT.toString();
  const negAmount = (-AMOUNT).toString();
  const transferOnce = async () => {
    const [debit, credit] = randomPair(ids);
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      type Row = { posted: string; version: string };
      const update = (name: "debit" | "credit", id: string) => client.query<Row>({ name, text: SQL[name], values: [id, amount] });
      // Lock in id order, as the service does (ORDER BY id FOR UPDATE): no deadlocks between opposite pairs.
      let d: pg.QueryResult<Row>, c: pg.QueryResult<Row>;
      if (debit < credit) {
        d = await update("debit", debit);
        c = await update("credit", credit);
      } else {
        c = await update("credit", credit);
        d = await update("debit", debit);
      }
      if (d.rowCount !== 1 || c.rowCount !== 1) throw Object.assign(new Error("account missing or not active"), { code: "NOROW" });
      const transferId = uuidv7();
      await client.query({ name: "transfer", text: SQL.transfer, values: [transferId, debit, credit, amount, `bench-raw-${RUN_ID}-${++seq}`] });
      await client.query({
        name: "entries",
        text: SQL.entries,
        values: [transferId, debit, negAmount, d.rows[0]!.posted, d.rows[0]!.version, credit, amount, c.rows[0]!.posted, c.rows[0]!.version],
      });
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  };
  try {
    await transferOnce(); // also checks the statements before the clock starts
    const result = await drive(
      `raw SQL: pg Pool(${RAW_POOL_MAX}), prepared`,
      transferOnce,
      (error) => {
        const e = error as { code?: string; message?: string };
        return { key: `SQLSTATE ${e?.code ?? "?"}`, message: e?.message ?? String(error) };
      },
      cpu,
      cpuWindow,
    );
    result.okTotal += 1;
    return result;
  } finally {
    await pool.end();
  }
}

// ───────────────────────────── main ─────────────────────────────

async function main(): Promise<void> {
  const children = new Set<ChildProcess>();
  const dbName = `bench_${RUN_ID}`;
  const url = databaseUrl(ADMIN_URL, dbName);
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  let created = false;
  let server: Server | undefined;

  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const child of children) await stopChild(child).catch(() => undefined);
      try {
        unlinkSync(SERVER_LOG);
      } catch {
        // never created, or already gone
      }
      if (created) {
        const c = new pg.Client({ connectionString: ADMIN_URL });
        try {
          await c.connect();
          await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
        } catch (error) {
          console.error(`could not drop database ${dbName}: ${(error as Error).message}`);
        } finally {
          await c.end().catch(() => undefined);
        }
      }
      await admin.end().catch(() => undefined);
    })());

  // Bounded no matter what: a hung server or database must not hang the benchmark.
  const budgetMs = 2 * (WARMUP_MS + SECONDS * 1000 + 20_000) + 120_000;
  const watchdog = setTimeout(() => {
    console.error(`benchmark exceeded ${budgetMs} ms; giving up`);
    const forced = setTimeout(() => process.exit(1), 10_000);
    forced.unref();
    void cleanup().finally(() => process.exit(1));
  }, budgetMs);
  watchdog.unref();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      console.error(`${signal}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName} TEMPLATE template0`);
    created = true;
    const postmaster = await findPostmaster(admin, ADMIN_URL);

    const startT = performance.now();
    server = await startService(url, children);
    const serverPid = server.child.pid!;
    const seedT = performance.now();
    const sets = await seed(url);
    const seededMs = performance.now() - seedT;

    console.log(
      `Transfers of ${AMOUNT} (minor unit) between random pairs of ${ACCOUNTS} USD accounts, ${CONCURRENCY} in flight, ` +
        `${WARMUP_MS / 1000} s warm-up + ${SECONDS} s measured per run, PostgreSQL ${new URL(ADMIN_URL).host}, database ${dbName}.\n` +
        `Server: child process (pid ${serverPid}), DB_POOL_MAX=${POOL_MAX}, LOG_LEVEL=${LOG_LEVEL}, started in ${((seedT - startT) / 1000).toFixed(1)} s. ` +
        `Seeded 2 × ${ACCOUNTS} accounts (each funded with ${FUNDING} by an issuance transfer) in SQL in ${(seededMs / 1000).toFixed(1)} s.\n`,
    );

    const cpuWindow = (a: CpuSnapshot, b: CpuSnapshot) => cpuBetween(a, b, postmaster);
    const service = await runService(server.port, sets.service, () => snapshot(serverPid, postmaster), cpuWindow);
    await stopChild(server.child); // frees its CPU (and pool) before the raw run
    children.delete(server.child);
    const raw = await runRaw(url, sets.raw, () => snapshot(undefined, postmaster), cpuWindow);

    // ── report ──
    const f = (n: number | undefined, digits: number) => (n !== undefined && Number.isFinite(n) ? n.toFixed(digits) : "n/a");
    const tps = (r: PhaseResult) => r.ok / r.elapsedS;
    const errText = (r: PhaseResult) =>
      r.errors.size === 0 ? "0" : [...r.errors].map(([k, v]) => `${k}: ${v.count}`).join(", ");
    console.log("| run | transfers/s | p50 ms | p99 ms | errors (whole run, by code) |");
    console.log("|---|---:|---:|---:|---|");
    for (const r of [service, raw]) console.log(`| ${r.name} | ${f(tps(r), 0)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${errText(r)} |`);
    console.log(`\nratio service/raw: ${f(tps(service) / tps(raw), 3)} (${f(tps(raw) / tps(service), 2)}× slower)\n`);

    console.log(`CPU over each measured window, ms per successful transfer (machine: ${service.cpu.cores} cores):\n`);
    console.log("| run | server process | bench process (client) | PostgreSQL (all processes) | other processes | machine busy |");
    console.log("|---|---:|---:|---:|---:|---:|");
    for (const r of [service, raw]) {
      const per = (ms: number | undefined) => (ms === undefined ? "n/a" : `${f(ms / r.ok, 3)} (${f((ms / (r.elapsedS * 1000)) * 100, 0)}% of a core)`);
      console.log(`| ${r.name} | ${r === raw ? "– (no server)" : per(r.cpu.serverMs)} | ${per(r.cpu.benchMs)} | ${per(r.cpu.pgMs)} | ${per(r.cpu.otherMs)} | ${f(r.cpu.machineBusyPct, 0)}% of all cores |`);
    }
    console.log();
    for (const r of [service, raw]) {
      if (r.cpu.otherMs / (r.elapsedS * 1000) > 0.2) {
        console.log(`- ${r.name}: other processes used ${f((r.cpu.otherMs / (r.elapsedS * 1000)) * 100, 0)}% of a core during the window: the box was not quiet, figures are low`);
      }
      for (const [k, v] of r.errors) console.log(`- ${r.name}: ${k} ×${v.count}, first: ${v.first}`);
      if (r.stillInFlight > 0) console.log(`- ${r.name}: ${r.stillInFlight} calls still in flight 15 s after the window`);
    }

    const conservation = await checkConservation(url, [
      { prefix: `bench-svc-${RUN_ID}-`, count: service.okTotal },
      { prefix: `bench-raw-${RUN_ID}-`, count: raw.okTotal },
    ]);
    console.log(`\nConservation: ${conservation.ok ? "OK" : "FAILED"}`);
    for (const line of conservation.lines) console.log(`  ${line}`);
    if (!conservation.ok || service.errors.size > 0 || raw.errors.size > 0) process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

await main();
