/**
 * Transport micro-benchmark: calls/s and server CPU per unary call for
 *
 *   1. the service's gRPC port (grpc-js + our adapter in src/server/grpc-server.ts),
 *      once with the real call log at level "info" and once at "silent";
 *   2. connect-node's HTTP/2 server (gRPC protocol), same ServiceImpl;
 *   3. a bare grpc-js echo server, the floor.
 *
 * Handlers are in memory (no database): this measures transport only.
 *
 * Each server runs in its own child process (this script, forked with
 * `--serve <kind>`) so that its CPU time (process.cpuUsage over the measured
 * window, sent back over IPC) is not mixed with the client's. The client is
 * grpc-js over one HTTP/2 connection on 127.0.0.1, keeping BENCH_CONCURRENCY
 * calls in flight: ~1 s warm-up, then a BENCH_SECONDS window.
 *
 *   npm run bench:transport            BENCH_SECONDS=3 BENCH_CONCURRENCY=64
 */
import { fork, type ChildProcess } from "node:child_process";
import { closeSync, fstatSync, openSync, unlinkSync } from "node:fs";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromBinary, toBinary, create } from "@bufbuild/protobuf";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { GetCurrencyRequestSchema, GetCurrencyResponseSchema, LedgerService } from "../src/gen/aevon/ledger/v1/ledger_pb.js";
import { createLogger } from "../src/lib/logger.js";
import { implement } from "../src/rpc/implement.js";
import { addService, createGrpcServer } from "../src/server/grpc-server.js";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
if (!(SECONDS > 0 && Number.isInteger(CONCURRENCY) && CONCURRENCY > 0)) {
  throw new Error("BENCH_SECONDS must be > 0 and BENCH_CONCURRENCY a positive integer");
}
const WARMUP_MS = 1_000;
const LEDGER_PATH = "/aevon.ledger.v1.LedgerService/GetCurrency";
const ECHO_PATH = "/bench.Echo/Echo"; // made up: the bare server knows nothing of LedgerService

const SERVERS = {
  "adapter-info": "grpc-js + adapter, call log at info",
  "adapter-silent": "grpc-js + adapter, log level silent",
  "connect-node": "connect-node http2, gRPC (no call log)",
  echo: "bare grpc-js echo (floor)",
} as const;
type Kind = keyof typeof SERVERS;

type ToChild = "start" | "stop";
type FromChild = { ready: number } | { cpuMs: number };

const identity = (b: Buffer): Buffer => b;

// ───────────────────────────── server (child) ─────────────────────────────

/** Starts the server of `kind` on 127.0.0.1 and returns its port. */
async function startServer(kind: Kind): Promise<number> {
  // config.ts defaults, so grpc-js is configured as in production.
  const limits = {
    maxReceiveMessageBytes: 1024 * 1024,
    maxSendMessageBytes: 4 * 1024 * 1024,
    keepaliveTimeMs: 30_000,
    keepaliveTimeoutMs: 10_000,
    maxConcurrentStreams: 1000,
  };
  const bindGrpc = (server: grpc.Server) =>
    new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );

  if (kind === "echo") {
    const server = createGrpcServer(limits); // same channel options: only the handler layer differs
    const echo: grpc.MethodDefinition<Buffer, Buffer> = {
      path: ECHO_PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    };
    server.addService({ echo }, { echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) });
    return bindGrpc(server);
  }

  // The production logger, unchanged: the parent pointed our stdout at a file
  // in os.tmpdir(), so "info" pays the real cost of one JSON line per call.
  const logger = createLogger({ level: kind === "adapter-info" ? "info" : "silent" });
  const usd = { code: "USD", scale: 2, name: "US dollar" };
  // Shaped like src/rpc/ledger-service.ts (async, returns an init object),
  // minus the database.
  const implemented = implement(
    LedgerService,
    {
      async getCurrency() {
        return { currency: usd };
      },
      async listCurrencies() {
        return { currencies: [] };
      },
    },
    logger,
  );

  if (kind === "connect-node") {
    // connect-node's logging interceptor lives in connect-server.ts and is not
    // exported, so this row has no call log: compare it with "silent".
    const server = http2.createServer(connectNodeAdapter({ routes: (router) => router.service(implemented.service, implemented.impl) }));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return (server.address() as AddressInfo).port;
  }

  const server = createGrpcServer(limits);
  addService(server, implemented, { logger, maxDeadlineMs: 30_000 });
  return bindGrpc(server);
}

async function serve(kind: Kind): Promise<void> {
  const send = (msg: FromChild) => process.send!(msg);
  let cpuAtStart = process.cpuUsage();
  process.on("message", (msg: unknown) => {
    if (msg === ("start" satisfies ToChild)) cpuAtStart = process.cpuUsage();
    if (msg === ("stop" satisfies ToChild)) {
      const { user, system } = process.cpuUsage(cpuAtStart);
      send({ cpuMs: (user + system) / 1000 });
    }
  });
  // Never outlive the parent, even if it dies without killing us.
  process.on("disconnect", () => process.exit(0));
  send({ ready: await startServer(kind) });
}

// ───────────────────────────── client (parent) ────────────────────────────

interface Result {
  kind: Kind;
  callsPerSec: number;
  serverCpuMsPerCall: number;
  clientCpuPct: number;
  p50: number;
  p99: number;
  errors: number;
  firstError?: string;
  logBytesPerCall: number;
}

/** Resolves with the first IPC message from `child` that `pick` accepts. */
function nextMessage<T>(child: ChildProcess, pick: (m: Partial<{ ready: number; cpuMs: number }>) => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown) => {
      // tsx's preflight may also talk over this channel; ignore what isn't ours.
      const value = typeof m === "object" && m !== null ? pick(m as never) : undefined;
      if (value !== undefined) {
        child.off("message", onMessage);
        child.off("exit", onExit);
        resolve(value);
      }
    };
    const onExit = (code: number | null) => reject(new Error(`server exited early (code ${code})`));
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function bench(kind: Kind, children: Set<ChildProcess>): Promise<Result> {
  const logPath = join(tmpdir(), `bench-transport-${kind}-${process.pid}.log`);
  const logFd = openSync(logPath, "w");
  // Same script, same tsx loader (execArgv is inherited); stdout → log file.
  const child = fork(process.argv[1]!, ["--serve", kind], { stdio: ["ignore", logFd, "inherit", "ipc"] });
  // Unlinked at once, so even an interrupted run leaves nothing behind; the
  // open fd still lets us measure how much was written.
  unlinkSync(logPath);
  children.add(child);
  try {
    const port = await nextMessage(child, (m) => m.ready);
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const path = kind === "echo" ? ECHO_PATH : LEDGER_PATH;
    // Serialized once with protobuf-es; the hot loop sends these bytes as is
    // and keeps the response as bytes, so the client (which shares the two
    // cores with the server) spends as little CPU as it can.
    const request = Buffer.from(toBinary(GetCurrencyRequestSchema, create(GetCurrencyRequestSchema, { code: "USD" })));
    const call = () =>
      new Promise<Buffer>((resolve, reject) =>
        client.makeUnaryRequest(path, identity, identity, request, (err, res) => (err ? reject(err) : resolve(res!))),
      );

    // One checked call first: a fast benchmark of wrong answers is worthless.
    const first = await call();
    if (kind === "echo") {
      if (!first.equals(request)) throw new Error("echo returned different bytes");
    } else if (fromBinary(GetCurrencyResponseSchema, first).currency?.code !== "USD") {
      throw new Error("GetCurrency did not return USD");
    }

    let measuring = false;
    let stopping = false;
    let inFlight = 0;
    let errors = 0;
    let firstError: string | undefined;
    const latencies: number[] = [];
    const issue = () => {
      inFlight++;
      const t0 = performance.now();
      client.makeUnaryRequest(path, identity, identity, request, (err) => {
        inFlight--;
        if (err) {
          errors++;
          firstError ??= `${err.code} ${err.details}`;
        } else if (measuring) {
          latencies.push(performance.now() - t0);
        }
        if (!stopping) issue();
      });
    };
    for (let i = 0; i < CONCURRENCY; i++) issue();

    await sleep(WARMUP_MS);
    child.send("start" satisfies ToChild);
    const clientCpu0 = process.cpuUsage();
    const logBytes0 = fstatSync(logFd).size;
    const t0 = performance.now();
    measuring = true;
    await sleep(SECONDS * 1000);
    measuring = false;
    const elapsedS = (performance.now() - t0) / 1000;
    const clientCpu = process.cpuUsage(clientCpu0);
    const logBytes = fstatSync(logFd).size - logBytes0;
    const cpuMs = nextMessage(child, (m) => m.cpuMs);
    child.send("stop" satisfies ToChild);
    const serverCpuMs = await cpuMs;

    stopping = true;
    for (let waited = 0; inFlight > 0 && waited < 5_000; waited += 10) await sleep(10);
    client.close();

    const calls = latencies.length;
    const sorted = Float64Array.from(latencies).sort();
    return {
      kind,
      callsPerSec: calls / elapsedS,
      serverCpuMsPerCall: serverCpuMs / calls,
      clientCpuPct: ((clientCpu.user + clientCpu.system) / 1000 / (elapsedS * 1000)) * 100,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      errors,
      firstError,
      // Sanity check that "info" really writes one line per call.
      logBytesPerCall: logBytes / calls,
    };
  } finally {
    await stopChild(child);
    children.delete(child);
    closeSync(logFd);
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 2_000);
  await exited;
  clearTimeout(timer);
}

async function main(): Promise<void> {
  const children = new Set<ChildProcess>();
  // Bounded no matter what: a hung server must not hang the benchmark.
  const kinds = Object.keys(SERVERS) as Kind[];
  const budgetMs = kinds.length * (WARMUP_MS + SECONDS * 1000 + 20_000);
  const watchdog = setTimeout(() => {
    console.error(`benchmark exceeded ${budgetMs} ms; giving up`);
    for (const c of children) c.kill("SIGKILL");
    process.exit(1);
  }, budgetMs);
  watchdog.unref();

  console.log(
    `Transport only: in-memory handlers, no database. GetCurrency{code:"USD"}, ${CONCURRENCY} in flight on one HTTP/2 ` +
      `connection to 127.0.0.1, ${WARMUP_MS / 1000} s warm-up + ${SECONDS} s measured, server in its own process.\n`,
  );
  const results: Result[] = [];
  for (const kind of kinds) results.push(await bench(kind, children));

  const f = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");
  console.log("| server | calls/s | server CPU per call (ms) | p50 ms | p99 ms |");
  console.log("|---|---:|---:|---:|---:|");
  for (const r of results) {
    console.log(`| ${SERVERS[r.kind]} | ${f(r.callsPerSec, 0)} | ${f(r.serverCpuMsPerCall, 3)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} |`);
  }
  console.log();
  for (const r of results) {
    // If the client sits near 100 % of a core, calls/s is the client's limit,
    // not the server's; server CPU per call stays meaningful either way.
    const notes = [`client CPU ${f(r.clientCpuPct, 0)}% of a core`];
    if (r.kind === "adapter-info") notes.push(`log ${f(r.logBytesPerCall, 0)} bytes/call`);
    if (r.errors > 0) notes.push(`${r.errors} errors, first: ${r.firstError}`);
    console.log(`- ${SERVERS[r.kind]}: ${notes.join("; ")}`);
  }
  if (results.some((r) => r.errors > 0)) process.exitCode = 1;
}

if (process.argv[2] === "--serve") {
  const kind = process.argv[3] as Kind;
  if (!(kind in SERVERS)) throw new Error(`unknown server kind ${kind}`);
  await serve(kind);
} else {
  await main();
}
