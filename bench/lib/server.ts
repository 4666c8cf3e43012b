/**
 * The server under test: a child process started the way `npm start` starts
 * it (the "start" script of package.json, read at run time, so it keeps
 * working when that becomes compiled JavaScript), on a fresh database, ready
 * once grpc.health.v1.Health/Check answers SERVING.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Health, HealthCheckResponse_ServingStatus } from "../../src/gen/grpc/health/v1/health_pb.js";
import { Connections } from "./client.js";
import type { TlsOptions } from "./flags.js";

export interface StartCommand {
  /** Node arguments after `node` (flags and the entry script). */
  args: string[];
  /** `KEY=value` assignments that precede `node` in the script. */
  env: Record<string, string>;
}

/** Shell words of a simple command line: quotes and backslashes, no operators. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (ch === "'" || ch === '"') {
      const end = line.indexOf(ch, i + 1);
      if (end === -1) throw new Error(`unbalanced ${ch} in "${line}"`);
      word = (word ?? "") + line.slice(i + 1, end);
      i = end;
    } else if (ch === "\\" && i + 1 < line.length) {
      word = (word ?? "") + line[++i];
    } else if ("&|;<>()`$".includes(ch)) {
      throw new Error(`"${line}" is not a simple command (found "${ch}")`);
    } else {
      word = (word ?? "") + ch;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/**
 * The one place that knows how the service starts: package.json's "start"
 * script, `[KEY=value …] [exec] node <args…>`, e.g. `node --import tsx
 * src/server/main.ts` today and `node dist/src/server/main.js` later. The
 * bench runs those args with its own node binary (no npm in between, so the
 * child's pid is the server's).
 */
export function parseStartScript(script: string | undefined): StartCommand {
  if (!script) throw new Error('package.json has no "start" script: the bench starts the service with it');
  const words = shellWords(script);
  const env: Record<string, string> = {};
  while (words.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!)) {
    const w = words.shift()!;
    env[w.slice(0, w.indexOf("="))] = w.slice(w.indexOf("=") + 1);
  }
  if (words[0] === "exec") words.shift();
  const node = words.shift();
  if (node === undefined || !/(^|\/)node$/.test(node)) {
    throw new Error(`package.json "start" is "${script}": the bench can only run a "node …" command`);
  }
  if (words.length === 0) throw new Error(`package.json "start" is "${script}": no script to run`);
  return { args: words, env };
}

export function readStartCommand(repoRoot: string): StartCommand {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { scripts?: { start?: string } };
  return parseStartScript(pkg.scripts?.start);
}

/** A port free right now on 127.0.0.1 (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export interface ServerOptions {
  repoRoot: string;
  databaseUrl: string;
  port?: number;
  logLevel: string;
  serverEnv: Record<string, string>;
  serverNodeArgs: string[];
  tls: TlsOptions;
  metadata?: string;
  /** How long start-up (migrations included) may take. Default 120 s. */
  startTimeoutMs?: number;
}

export interface RunningServer {
  pid: number;
  /** host:port of its gRPC port */
  target: string;
  child: ChildProcess;
  /** Its stdout and stderr (JSON log lines), removed by stop(). */
  logPath: string;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const command = readStartCommand(options.repoRoot);
  const script = command.args.find((a) => /\.(m?[jt]s|cjs)$/.test(a) && !a.startsWith("-"));
  if (script && !existsSync(join(options.repoRoot, script))) {
    throw new Error(`the start script runs ${script}, which does not exist${script.startsWith("dist/") ? ": run npm run build first" : ""}`);
  }
  const port = options.port ?? (await freePort());
  const logPath = join(tmpdir(), `bench-server-${process.pid}-${port}.log`);
  const fd = openSync(logPath, "w");
  const env: NodeJS.ProcessEnv = { ...process.env, ...command.env };
  delete env.DIRECT_DATABASE_URL; // migrations must go to the fresh database, nowhere else
  Object.assign(env, {
    DATABASE_URL: options.databaseUrl,
    PORT: String(port),
    CONNECT_PORT: "-1",
    METRICS_PORT: "0",
    HOST: "127.0.0.1",
    LOG_LEVEL: options.logLevel,
    LOG_PRETTY: "false",
    ...options.serverEnv,
  });
  const child = spawn(process.execPath, [...options.serverNodeArgs, ...command.args], { cwd: options.repoRoot, env, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  let exited: string | undefined;
  child.once("exit", (code, signal) => (exited = `code ${code}, signal ${signal}`));
  const logTail = (lines = 20) => {
    try {
      return readFileSync(logPath, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  };
  // Whatever ends this process (an uncaught error included), the server goes with it.
  const killOnExit = () => {
    child.kill("SIGKILL");
    rmSync(logPath, { force: true });
  };
  process.once("exit", killOnExit);
  const stop = async () => {
    process.removeListener("exit", killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(logPath, { force: true });
  };

  const target = `127.0.0.1:${port}`;
  const probe = new Connections({ target, tls: options.tls, connections: 1, metadata: options.metadata });
  const deadline = Date.now() + (options.startTimeoutMs ?? 120_000);
  let last = "";
  try {
    for (;;) {
      if (exited) throw new Error(`the server exited during start-up (${exited}):\n${logTail()}`);
      if (Date.now() > deadline) throw new Error(`the server did not answer Health/Check SERVING in time (last: ${last}):\n${logTail()}`);
      try {
        const reply = await probe.call(Health.method.check, { service: "" }, 2_000);
        if (reply.status === HealthCheckResponse_ServingStatus.SERVING) break;
        last = HealthCheckResponse_ServingStatus[reply.status] ?? String(reply.status);
      } catch (error) {
        last = (error as Error).message;
      }
      await sleep(100);
    }
  } catch (error) {
    await stop();
    throw error;
  } finally {
    probe.close();
  }
  return { pid: child.pid!, target, child, logPath, logTail, stop };
}
