/**
 * `npm run soak -- --minutes N` (or `--smoke`): the service under a mixed load
 * (bench/lib/soak-mix.ts) at 70% of its measured peak, or --rps, for N
 * minutes, with a table row every --interval: throughput, errors, p99, the
 * server's RSS, heap and event-loop delay (from its opt-in `diagnostics` log
 * lines, DIAGNOSTICS_INTERVAL_MS), the audit seal lag and the database
 * connections. Reuses the bench's session (server + database) and load
 * generator. Exits 1 if any call failed. docs/SOAK.md has a 10-minute run.
 */
import { openSync, readFileSync, readSync, closeSync, fstatSync } from "node:fs";
import pg from "pg";
import { parseFlags } from "./lib/flags.js";
import { grpcOp } from "./lib/grpc-op.js";
import { runLoad, type LoadResult, type Op } from "./lib/load.js";
import { openSession, type Session } from "./lib/session.js";
import { formatRow, formatSummary, parseSoakFlags, SOAK_HELP, SOAK_MIX, TABLE_HEADER, type SoakFlags, type SoakRow } from "./lib/soak-mix.js";

const log = (line: string) => process.stderr.write(`${line}\n`);
const out = (line: string) => process.stdout.write(`${line}\n`);
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);

/** Reads the server's log file as it grows and keeps its `diagnostics` lines. */
function diagnosticsReader(path: string) {
  let offset = 0;
  let partial = "";
  const latestByPid = new Map<number, Record<string, unknown>>();
  let worstLoopP99 = 0;
  return {
    /** New lines since the last call: the latest RSS/heap summed over processes, the worst loop p99 seen. */
    poll(): { rssMiB?: number; heapUsedMiB?: number; loopP99Ms?: number } {
      const fd = openSync(path, "r");
      try {
        const size = fstatSync(fd).size;
        if (size > offset) {
          const buf = Buffer.alloc(size - offset);
          readSync(fd, buf, 0, buf.length, offset);
          offset = size;
          const text = partial + buf.toString("utf8");
          const lines = text.split("\n");
          partial = lines.pop() ?? "";
          for (const line of lines) {
            if (!line.includes('"diagnostics"')) continue;
            try {
              const entry = JSON.parse(line) as Record<string, unknown> & { msg?: string; pid: number; eventLoopDelayMs?: { p99: number } };
              if (entry.msg !== "diagnostics") continue;
              latestByPid.set(entry.pid, entry);
              worstLoopP99 = Math.max(worstLoopP99, entry.eventLoopDelayMs?.p99 ?? 0);
            } catch {
              // not JSON
            }
          }
        }
      } finally {
        closeSync(fd);
      }
      if (latestByPid.size === 0) return {};
      const sum = (key: string) => [...latestByPid.values()].reduce((a, e) => a + (e[key] as number), 0);
      const loop = worstLoopP99;
      worstLoopP99 = 0;
      return { rssMiB: sum("rssMiB"), heapUsedMiB: sum("heapUsedMiB"), loopP99Ms: loop };
    },
  };
}

/** Unsealed audit events (and the oldest one's age), and the service's connections to its database. */
async function databaseProbe(client: pg.Client, database: string) {
  const seal = await client.query<{ unsealed: string; oldest_s: number | null }>(
    `SELECT count(*) AS unsealed, extract(epoch FROM now() - min(e.occurred_at))::float8 AS oldest_s
       FROM audit_events e WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_id = e.id)`,
  );
  const conns = await client.query<{ active: string; total: string }>(
    `SELECT count(*) FILTER (WHERE state = 'active') AS active, count(*) AS total
       FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
    [database],
  );
  return {
    unsealed: Number(seal.rows[0]!.unsealed),
    oldestUnsealedS: seal.rows[0]!.oldest_s ?? 0,
    dbActive: Number(conns.rows[0]!.active),
    dbTotal: Number(conns.rows[0]!.total),
  };
}

async function soak(flags: SoakFlags, session: Session): Promise<boolean> {
  const fixture = await session.seed("s", flags.accounts);
  const timeoutMs = 20_000;
  const inner = grpcOp(session.conn, SOAK_MIX, fixture, timeoutMs, "soak mix");
  const codes: Record<string, number> = {};
  const firstErrors: Record<string, string> = {};
  let counting = false;
  const op: Op = (ctx, done) =>
    inner(ctx, (code, message, label) => {
      if (counting) {
        codes[code] = (codes[code] ?? 0) + 1;
        if (code !== "OK") firstErrors[code] ??= `${label ?? ""} ${message ?? ""}`.trim().slice(0, 200);
      }
      done(code, message, label);
    });

  let rps = flags.rps;
  let peak: number | undefined;
  if (rps === undefined) {
    log(`peak probe: closed loop, c=${flags.concurrency}, ${flags.peakMs / 1000} s`);
    const probe = await runLoad(op, { concurrency: flags.concurrency, durationMs: flags.peakMs, warmupMs: 1_000, timeoutMs });
    peak = probe.callsPerS;
    rps = Math.max(1, Math.round(peak * flags.peakFraction));
    log(`peak ${peak.toFixed(0)} calls/s (${Object.entries(probe.statusCounts).map(([c, n]) => `${c} ${n}`).join(", ")}); soaking at ${rps} calls/s`);
  }

  const diagnostics = diagnosticsReader(session.server.logPath);
  const db = new pg.Client({ connectionString: session.serviceDatabase.url });
  await db.connect();
  const rows: SoakRow[] = [];
  let chain = Promise.resolve();
  out(`Soak: ${flags.minutes} min at ${rps} calls/s, a row every ${flags.intervalMs / 1000} s (mix: ${SOAK_MIX.map((c) => `${c.call.split("/")[1]} ${c.weight}`).join(", ")})`);
  out(TABLE_HEADER);
  counting = true;
  let result: LoadResult | undefined;
  try {
    result = await runLoad(op, {
      concurrency: flags.concurrency,
      rps,
      durationMs: flags.minutes * 60_000,
      warmupMs: flags.warmupMs,
      timeoutMs,
      sampler: {
        intervalMs: flags.intervalMs,
        onSample: (s) => {
          const row: SoakRow = {
            elapsedS: s.elapsedMs / 1000,
            callsPerS: s.calls / (flags.intervalMs / 1000),
            errors: s.errors,
            p99Ms: s.latency.p99Ms,
            ...diagnostics.poll(),
          };
          rows.push(row);
          chain = chain.then(async () => {
            try {
              Object.assign(row, await databaseProbe(db, session.serviceDatabase.name));
            } catch (error) {
              log(`database probe: ${(error as Error).message}`);
            }
            out(formatRow(row));
          });
        },
      },
    });
  } finally {
    counting = false;
    await chain;
    await db.end();
  }
  out(
    formatSummary({
      rps,
      peak,
      minutes: flags.minutes,
      rows,
      codes,
      firstErrors,
      delayed: result.delayed,
      dropped: result.dropped,
      achievedCallsPerS: result.callsPerS,
    }),
  );
  return Object.keys(codes).every((c) => c === "OK");
}

async function main(): Promise<void> {
  let flags: SoakFlags | "help";
  try {
    flags = parseSoakFlags(process.argv.slice(2));
  } catch (error) {
    log(`soak: ${(error as Error).message}`);
    process.exit(2);
  }
  if (flags === "help") {
    process.stdout.write(SOAK_HELP);
    return;
  }
  // The bench's session: a fresh database, the service as npm start runs it, with diagnostics on.
  const options = parseFlags(
    [
      "--soak", "1",
      "--server-env", `WORKERS=${flags.workers}`,
      "--server-env", `DIAGNOSTICS_INTERVAL_MS=${Math.min(5_000, Math.max(500, Math.floor(flags.intervalMs / 2)))}`,
      "--connections", String(flags.workers),
    ],
    (path) => readFileSync(path, "utf8"),
  );
  let closeSession: (() => Promise<void>) | undefined;
  let stopping = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      log(`${signal}: stopping the server and dropping the soak database …`);
      setTimeout(() => process.exit(130), 30_000).unref();
      void (closeSession?.() ?? Promise.resolve()).finally(() => process.exit(130));
    });
  }
  try {
    const session = await openSession(options, log, [], (close) => (closeSession = close));
    const clean = await soak(flags, session);
    if (!clean) process.exitCode = 1;
  } catch (error) {
    log(`soak: ${(error as Error).stack ?? error}`);
    process.exitCode = 1;
  } finally {
    if (!stopping) await closeSession?.();
  }
}

await main();
