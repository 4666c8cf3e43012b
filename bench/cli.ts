/**
 * `npm run bench -- [flags]`: the load benchmark of the service (ghz-like
 * flags), with baselines in the same invocation. See bench/README.md and
 * `npm run bench -- --help`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { aggregate, ratios } from "./lib/aggregate.js";
import { parseFlags, type BenchOptions } from "./lib/flags.js";
import { HELP } from "./lib/help.js";
import { writeGhzData } from "./lib/ghz-data.js";
import { grpcOp } from "./lib/grpc-op.js";
import { measuredLoad } from "./lib/measure.js";
import { findMethod } from "./lib/methods.js";
import { describeMachine, formatRunText, formatSuiteMarkdown, writeResultsFile } from "./lib/report.js";
import { readStartCommand } from "./lib/server.js";
import { openSession, REPO_ROOT, type Session } from "./lib/session.js";
import { formatSoakText, heapReportNodeArgs, makeReportDir, runSoak } from "./lib/soak.js";
import { runSuite } from "./lib/suite.js";
import { needsFixture, type Fixture } from "./lib/template.js";
import { formatDurationMs } from "./lib/duration.js";

const log = (line: string) => process.stderr.write(`${line}\n`);
// A reader that goes away (`| head`) must not cut the teardown short: the run finishes and cleans up.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);

function emit(options: BenchOptions, text: string): void {
  if (options.output) {
    writeFileSync(options.output, text);
    log(`report written to ${options.output}`);
  } else {
    process.stdout.write(text);
  }
}

function windowText(o: BenchOptions): string {
  return `warm-up ${formatDurationMs(o.warmupMs)} + ${o.total !== undefined ? `${o.total} calls` : formatDurationMs(o.durationMs)} measured`;
}

async function callMode(options: BenchOptions, session: Session): Promise<void> {
  const method = findMethod(options.call!);
  const fixture: Fixture | undefined = needsFixture(options.data) ? await session.seed("s", options.accounts) : undefined;
  const op = grpcOp(session.conn, [{ call: method.fullName, data: options.data, weight: 1 }], fixture, options.timeoutMs);
  log(`${method.fullName}: c=${options.concurrency}${options.rps ? `, --rps ${options.rps}` : ""}, ${windowText(options)}`);
  const record = await measuredLoad(
    op,
    { concurrency: options.concurrency, total: options.total, durationMs: options.durationMs, rps: options.rps, warmupMs: options.warmupMs, timeoutMs: options.timeoutMs },
    { serverPid: session.server.pid, postmasterPid: session.db.postmasterPid },
    { key: `service/call`, target: "service", scenario: "call", label: method.fullName, round: 1 },
  );
  emit(options, options.format === "json" ? JSON.stringify({ call: method.fullName, ...record }, null, 2) + "\n" : formatRunText(record, method.fullName));
}

async function suiteMode(options: BenchOptions, session: Session): Promise<void> {
  const { records, notes } = await runSuite(options, session, log);
  const aggregates = aggregate(records);
  const start = readStartCommand(REPO_ROOT);
  const env = Object.entries(options.serverEnv).map(([k, v]) => ` ${k}=${v}`).join("");
  const settings = [
    `scenarios: ${options.scenarios.join(", ")}; ${options.rounds} round(s) of alternating windows, each ${windowText(options)}; medians reported`,
    `service: \`node ${[...options.serverNodeArgs, ...start.args].join(" ")}\` (package.json "start"), LOG_LEVEL=${options.logLevel}${env}; ` +
      `load: grpc-js, c=${options.concurrency}, ${options.connections} HTTP/2 connection(s)`,
    `fixture: ${options.accounts} users with funded wallets, seeded through the API; the raw-SQL baseline uses ${options.accounts} more`,
    `PostgreSQL: ${session.db.version} (${session.db.source}), one server for the service and every baseline; ` +
      `pgbench -i -s ${options.pgbenchScale}, transfer script with -c 16 -j 2 -M prepared`,
  ];
  const report = { machine: describeMachine(session.db.version, REPO_ROOT), settings, aggregates, ratios: ratios(aggregates), notes };
  const markdown = formatSuiteMarkdown(report);
  emit(options, options.format === "json" ? JSON.stringify({ ...report, windows: records }, null, 2) + "\n" : markdown);
  if (options.saveResults) log(`results written to ${writeResultsFile(options.resultsDir, markdown)}`);
}

async function printFixtureMode(options: BenchOptions, session: Session): Promise<void> {
  const fixture = await session.seed("s", options.accounts);
  const files = writeGhzData(options.ghzDataDir ?? "bench/ghz/data", fixture);
  const out = { host: session.server.target, hotAccount: fixture.accounts[0], accounts: fixture.accounts, users: fixture.users, ghzDataFiles: files };
  emit(options, JSON.stringify(out, null, 2) + "\n");
  log(`serving on ${session.server.target} with this fixture; ghz data files in ${options.ghzDataDir ?? "bench/ghz/data"}. Ctrl-C stops it and drops the database.`);
  await new Promise<never>(() => undefined); // until a signal
}

async function main(): Promise<void> {
  let options: BenchOptions;
  try {
    options = parseFlags(process.argv.slice(2), (path) => readFileSync(path, "utf8"));
  } catch (error) {
    log(`bench: ${(error as Error).message}`);
    process.exit(2);
  }
  if (options.mode === "help") {
    process.stdout.write(HELP);
    return;
  }
  if (options.mode === "print-fixture") options.port ??= 50051; // what bench/ghz/*.json point at

  let reportDir: string | undefined;
  let session: Session | undefined;
  let closeSession: (() => Promise<void>) | undefined;
  let stopping = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      log(`${signal}: stopping the server and dropping the bench databases …`);
      const forced = setTimeout(() => process.exit(130), 30_000);
      forced.unref();
      void (async () => {
        await closeSession?.();
        if (reportDir) await rm(reportDir, { recursive: true, force: true });
      })().finally(() => process.exit(options.mode === "print-fixture" ? 0 : 130));
    });
  }

  try {
    if (options.mode === "soak") reportDir = await makeReportDir();
    session = await openSession(options, log, reportDir ? heapReportNodeArgs(reportDir) : [], (close) => (closeSession = close));
    switch (options.mode) {
      case "call":
        await callMode(options, session);
        break;
      case "suite":
        await suiteMode(options, session);
        break;
      case "soak": {
        const result = await runSoak(options, session, reportDir!, log);
        emit(options, options.format === "json" ? JSON.stringify(result, null, 2) + "\n" : formatSoakText(result));
        break;
      }
      case "print-fixture":
        await printFixtureMode(options, session);
        break;
    }
  } catch (error) {
    log(`bench: ${(error as Error).stack ?? error}`);
    process.exitCode = 1;
  } finally {
    if (!stopping) {
      await closeSession?.();
      if (reportDir) await rm(reportDir, { recursive: true, force: true });
    }
  }
}

await main();
