/**
 * A transfer over Accelerate against a direct one: the same service binary
 * (`src/server/main.ts`, child process) once on a direct PostgreSQL URL and
 * once on the Accelerate path (Prisma Client → Prisma's query-plan executor
 * over HTTP, in its own child process → the same PostgreSQL). For each:
 *
 *   - latency: BENCH_SEQUENTIAL transfers one at a time (median, p99);
 *   - throughput: BENCH_CONCURRENCY transfers in flight for BENCH_SECONDS;
 *   - idle: requests per second an instance with no traffic sends (job
 *     probes, health checks), over BENCH_IDLE_SECONDS (default 10);
 *   - HTTP requests per transfer on the Accelerate path, counted by the
 *     executor process (one at a time, and under load with group commit),
 *     background jobs included.
 *
 * The executor runs on this machine, so an HTTP round trip costs about what a
 * PostgreSQL one does; a real Accelerate region adds the network between the
 * service and Accelerate to each round trip. Round trips are the figure that
 * carries over.
 *
 *   npx tsx bench/accelerate.ts     BENCH_SECONDS=5 BENCH_CONCURRENCY=64 BENCH_SEQUENTIAL=300
 *   (also BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/test, used to CREATE and DROP a database)
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, type AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { IdentityService } from "../src/gen/aevon/identity/v1/identity_pb.js";
import { LedgerService, SystemAccount } from "../src/gen/aevon/ledger/v1/ledger_pb.js";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 300);
const ACCOUNTS = 200;
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 10);
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";

// ── The executor process: `tsx bench/accelerate.ts executor <database url>` ──
if (process.argv[2] === "executor") {
  const { startQueryPlanExecutor } = await import("../test/support/accelerate.js");
  const executor = await startQueryPlanExecutor(process.argv[3]!);
  console.log(JSON.stringify({ url: executor.url }));
  // "count" on stdin: report the requests seen since the last count.
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === "count") {
      console.log(JSON.stringify({ requests: executor.requests.length }));
      executor.reset();
    }
  }
  await executor.stop();
  process.exit(0);
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });

function child(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", ...args], { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "inherit"] });
}

/** The next JSON line a child prints that has `key`. */
function nextLine<T>(proc: ChildProcess, key: string): Promise<T> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: proc.stdout! });
    rl.on("line", (line) => {
      if (!line.startsWith("{")) return;
      const value = JSON.parse(line) as Record<string, unknown>;
      if (key in value) {
        rl.close();
        resolve(value as T);
      }
    });
  });
}

async function startService(databaseUrl: string, directUrl: string) {
  const port = await freePort();
  const proc = child(["src/server/main.ts"], {
    DATABASE_URL: databaseUrl,
    DIRECT_DATABASE_URL: directUrl,
    PORT: String(port),
    CONNECT_PORT: "-1",
    METRICS_PORT: "0",
    HOST: "127.0.0.1",
    LOG_LEVEL: "warn",
    LOG_PRETTY: "false",
  });
  const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` });
  const ledger = createClient(LedgerService, transport);
  for (let i = 0; ; i++) {
    try {
      await ledger.listCurrencies({});
      break;
    } catch (error) {
      if (i > 200) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { proc, ledger, identity: createClient(IdentityService, transport) };
}

type Service = Awaited<ReturnType<typeof startService>>;

async function seed(service: Service): Promise<string[]> {
  const issuance = (await service.ledger.listAccounts({ owner: { owner: { case: "system", value: SystemAccount.ISSUANCE } }, currency: "USD" })).accounts[0]!.id;
  const ids: string[] = [];
  for (let i = 0; i < ACCOUNTS; i++) {
    const { user } = await service.identity.createUser({ idempotencyKey: `u${i}`, handle: `bench_${randomBytes(6).toString("hex")}` });
    const { account } = await service.ledger.createAccount({ idempotencyKey: `a${i}`, owner: { owner: { case: "userId", value: user!.id } }, currency: "USD" });
    await service.ledger.transfer({ idempotencyKey: `f${i}`, debitAccountId: issuance, creditAccountId: account!.id, amount: 1_000_000_000n });
    ids.push(account!.id);
  }
  return ids;
}

let sequence = 0;
function transfer(service: Service, ids: string[]) {
  const a = Math.floor(Math.random() * ids.length);
  const b = (a + 1 + Math.floor(Math.random() * (ids.length - 1))) % ids.length;
  return service.ledger.transfer({ idempotencyKey: `t${sequence++}-${process.pid}`, debitAccountId: ids[a]!, creditAccountId: ids[b]!, amount: 1n });
}

async function measure(service: Service, ids: string[]) {
  const latencies: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) {
    const t0 = performance.now();
    await transfer(service, ids);
    latencies.push(performance.now() - t0);
  }
  latencies.sort((x, y) => x - y);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  let done = 0;
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        await transfer(service, ids);
        done += 1;
      }
    }),
  );
  return { medianMs: at(0.5), p99Ms: at(0.99), perSecond: done / SECONDS, loadTransfers: done };
}

const admin = new pg.Client({ connectionString: ADMIN_URL });
await admin.connect();
const name = `bench_acc_${randomBytes(4).toString("hex")}`;
await admin.query(`CREATE DATABASE ${name}`);
const url = Object.assign(new URL(ADMIN_URL), { pathname: `/${name}` }).toString();
const procs: ChildProcess[] = [];
try {
  const direct = await startService(url, "");
  procs.push(direct.proc);
  const ids = await seed(direct);
  const directFigures = await measure(direct, ids);
  direct.proc.kill("SIGTERM");

  const executorProc = child(["bench/accelerate.ts", "executor", url], {});
  procs.push(executorProc);
  const { url: accelerateUrl } = await nextLine<{ url: string }>(executorProc, "url");
  const accelerated = await startService(accelerateUrl, url);
  procs.push(accelerated.proc);
  const count = async () => {
    const reply = nextLine<{ requests: number }>(executorProc, "requests");
    executorProc.stdin!.write("count\n");
    return (await reply).requests;
  };
  // Idle: what an instance costs Accelerate with no traffic (jobs' probes, health checks).
  await new Promise((r) => setTimeout(r, 5_000));
  await count();
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  const idlePerSecond = (await count()) / IDLE_SECONDS;
  for (let i = 0; i < 20; i++) await transfer(accelerated, ids);
  const aloneRequests = (await count()) / 20;
  const acceleratedFigures = await measure(accelerated, ids);
  const loadRequests = (await count()) / (acceleratedFigures.loadTransfers + SEQUENTIAL);

  const row = (label: string, f: typeof directFigures) =>
    `| ${label} | ${f.medianMs.toFixed(2)} | ${f.p99Ms.toFixed(2)} | ${Math.round(f.perSecond)} |`;
  console.log(`\nTransfers, ${ACCOUNTS} funded accounts, random pairs; latency over ${SEQUENTIAL} one at a time; throughput ${CONCURRENCY} in flight for ${SECONDS} s\n`);
  console.log("| path | median ms | p99 ms | transfers/s |");
  console.log("|---|---:|---:|---:|");
  console.log(row("direct (adapter-pg)", directFigures));
  console.log(row("Accelerate (query-plan executor, local)", acceleratedFigures));
  console.log(
    `\nHTTP requests to the executor per transfer, background jobs included (audit sealing, hold expiry, health):` +
      ` ${aloneRequests.toFixed(2)} one at a time, ${loadRequests.toFixed(2)} under load (group commit and sealing batches share them).` +
      ` A transfer's own: 1 (one statement; test/store/accelerate-path.test.ts).`,
  );
  console.log(`Idle instance: ${idlePerSecond.toFixed(2)} requests/s to the executor over ${IDLE_SECONDS} s (job probes and health checks).`);
} finally {
  for (const p of procs) p.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 1500));
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}
