/**
 * Command-line flags, named as ghz names them where ghz has them (`--call`,
 * `-c`, `-n`, `-z`, `--rps`, `-d`, `-D`, `-m`, `--connections`, `-t`,
 * `--cacert/--cert/--key/--cname`, `--insecure`, `-O/--format`, `-o`). Pure:
 * no I/O, so it is unit-tested.
 */
import { parseDurationMs } from "./duration.js";
import { parseScenarioList, type ScenarioName } from "./scenarios.js";

export type Mode = "help" | "call" | "suite" | "soak" | "print-fixture";

export interface TlsOptions {
  /** Plaintext HTTP/2 (h2c). Default true unless --cacert/--cert/--key is given: the service serves cleartext today. */
  insecure: boolean;
  /** PEM file of trusted roots. Default: Node's bundled roots. */
  cacert?: string;
  /** PEM client certificate (mutual TLS); needs --key. */
  cert?: string;
  /** PEM client key; needs --cert. */
  key?: string;
  /** Server name to verify, when it differs from the host. */
  cname?: string;
}

export interface BenchOptions {
  mode: Mode;
  /** Full method for --call mode (`package.Service/Method` or `package.Service.Method`). */
  call?: string;
  /** Data template (JSON, ghz templating) for --call mode; from -d or -D. Default `{}`. */
  data: string;
  /** Metadata template (JSON object of strings), sent with every call, seeding included. Default none. */
  metadata?: string;
  /** Calls in flight (closed loop), or the cap on calls in flight under --rps. Default 64: enough to saturate the service on 2 cores. */
  concurrency: number;
  /** -n: measured calls per run (after warm-up). Unset: time-bound (-z). */
  total?: number;
  /** -z: measured window per run. Default 10 s (ignored when -n is given). */
  durationMs: number;
  /** --rps: open-loop rate (calls started per second, latency counted from the scheduled start). Default none: closed loop. */
  rps?: number;
  /** Warm-up before each measured window, not counted. Default 2 s: connections, JIT, pools and caches. */
  warmupMs: number;
  /** Deadline of each call. Default 20 s, as ghz. */
  timeoutMs: number;
  /** HTTP/2 connections the calls are spread over. Default 1, as ghz. */
  connections: number;
  format: "text" | "json";
  /** -o: write the report to this file instead of stdout. */
  output?: string;
  /** Scenarios of suite mode. Default all. */
  scenarios: ScenarioName[];
  /** Measured windows per scenario and baseline, alternated; medians reported. Default 3. */
  rounds: number;
  /** Funded wallets (one user each) in the fixture. Default 10,000. */
  accounts: number;
  /** Soak length in minutes (soak mode). */
  soakMinutes?: number;
  /** How often soak samples the server's RSS and heap. Default 5 s. */
  sampleIntervalMs: number;
  /** Write ghz data files (JSON arrays, round-robin) for each scenario here in --print-fixture mode. */
  ghzDataDir?: string;
  /** LOG_LEVEL of the server under test. Default warn: the call log is not what is measured. */
  logLevel: string;
  /** Extra environment of the server (--server-env KEY=VALUE, repeatable). */
  serverEnv: Record<string, string>;
  /** Extra node flags for the server, e.g. "--cpu-prof". */
  serverNodeArgs: string[];
  /** gRPC port of the server. Default: a free port. */
  port?: number;
  tls: TlsOptions;
  /** pgbench binary. Default: `pgbench` on PATH. */
  pgbench?: string;
  /** pgbench -i -s. Default 10 (1,000,000 accounts), as specified for the baseline. */
  pgbenchScale: number;
  /** Run the baselines (pgbench, raw SQL, echo server). Default true. */
  baselines: boolean;
  /** Write bench/results/<date>.md in suite mode. Default true. */
  saveResults: boolean;
  /** Folder of the results files. Default bench/results. */
  resultsDir: string;
}

/** Most calls in flight: beyond it the client, not the server, is measured. */
export const MAX_CONCURRENCY = 10_000;
export const MAX_CONNECTIONS = 256;
export const MAX_ACCOUNTS = 1_000_000;
export const MAX_ROUNDS = 50;

const BOOLEAN = new Set(["help", "insecure", "print-fixture", "no-baselines", "no-results"]);
const ALIASES: Record<string, string> = {
  h: "help",
  c: "concurrency",
  n: "total",
  z: "duration",
  r: "rps",
  d: "data",
  D: "data-file",
  m: "metadata",
  t: "timeout",
  O: "format",
  o: "output",
};
const KNOWN = new Set([
  ...BOOLEAN,
  ...Object.values(ALIASES),
  "call",
  "warmup",
  "connections",
  "scenario",
  "rounds",
  "accounts",
  "soak",
  "sample-interval",
  "ghz-data",
  "log-level",
  "server-env",
  "server-node-args",
  "port",
  "cacert",
  "cert",
  "key",
  "cname",
  "pgbench",
  "pgbench-scale",
  "results-dir",
]);
const REPEATABLE = new Set(["server-env"]);

function int(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new Error(`--${flag}: "${value}" must be an integer from ${min} to ${max}`);
  }
  return n;
}

function positive(value: string, flag: string, max: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > max) throw new Error(`--${flag}: "${value}" must be a number > 0 and <= ${max}`);
  return n;
}

/** Splits argv into flag → values; `--x=v`, `--x v`, `-c 64`, `-c=64`. */
function tokenize(argv: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^(--?)([A-Za-z][\w-]*)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new Error(`unexpected argument "${arg}" (flags start with - or --; see --help)`);
    const [, dashes, rawName, inline] = m;
    const name = dashes === "-" ? ALIASES[rawName!] : rawName!;
    if (name === undefined || !KNOWN.has(name)) throw new Error(`unknown flag "${arg}" (see --help)`);
    let value: string;
    if (BOOLEAN.has(name)) {
      if (inline !== undefined && !["true", "false"].includes(inline)) throw new Error(`--${name} takes no value`);
      value = inline ?? "true";
    } else if (inline !== undefined) {
      value = inline;
    } else {
      if (i + 1 >= argv.length) throw new Error(`--${name} needs a value`);
      value = argv[++i]!;
    }
    const list = out.get(name) ?? [];
    if (list.length > 0 && !REPEATABLE.has(name)) throw new Error(`--${name} given twice`);
    list.push(value);
    out.set(name, list);
  }
  return out;
}

/**
 * Parses the bench's flags. `readFile` resolves -D (injected so this stays
 * pure). Throws an Error whose message names the offending flag.
 */
export function parseFlags(argv: string[], readFile: (path: string) => string = () => "{}"): BenchOptions {
  const flags = tokenize(argv);
  const one = (name: string) => flags.get(name)?.[0];
  const bool = (name: string) => one(name) === "true";

  const serverEnv: Record<string, string> = {};
  for (const pair of flags.get("server-env") ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(pair.slice(0, eq))) throw new Error(`--server-env: "${pair}" is not KEY=VALUE`);
    serverEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
  }

  if (one("data") !== undefined && one("data-file") !== undefined) throw new Error("-d and -D are exclusive");
  const data = one("data") ?? (one("data-file") !== undefined ? readFile(one("data-file")!) : "{}");

  const metadata = one("metadata");
  if (metadata !== undefined) {
    let parsed: unknown;
    try {
      // Templates sit inside string values, so the raw text is valid JSON.
      parsed = JSON.parse(metadata);
    } catch {
      throw new Error("--metadata: not valid JSON (a JSON object of strings, e.g. '{\"authorization\":\"Bearer …\"}')");
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== "string")) {
      throw new Error("--metadata: must be a JSON object of string values");
    }
  }

  const format = one("format") ?? "text";
  if (format !== "text" && format !== "json") throw new Error(`--format: "${format}" must be text or json`);

  const tls: TlsOptions = {
    insecure: true,
    cacert: one("cacert"),
    cert: one("cert"),
    key: one("key"),
    cname: one("cname"),
  };
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new Error("--cert and --key go together");
  if (tls.cacert !== undefined || tls.cert !== undefined) tls.insecure = false;
  if (bool("insecure") && !tls.insecure) throw new Error("--insecure contradicts --cacert/--cert/--key");

  const call = one("call");
  const soak = one("soak");
  const printFixture = bool("print-fixture");
  const scenarioFlag = one("scenario");
  const exclusive = [call && "--call", soak && "--soak", printFixture && "--print-fixture"].filter(Boolean);
  if (exclusive.length > 1) throw new Error(`${exclusive.join(" and ")} are exclusive`);
  if (call && scenarioFlag) throw new Error("--call and --scenario are exclusive");
  if (one("ghz-data") && !printFixture) throw new Error("--ghz-data needs --print-fixture");
  const mode: Mode = bool("help") ? "help" : call ? "call" : soak ? "soak" : printFixture ? "print-fixture" : "suite";

  const port = one("port");
  return {
    mode,
    call,
    data,
    metadata,
    concurrency: one("concurrency") ? int(one("concurrency")!, "concurrency", 1, MAX_CONCURRENCY) : 64,
    total: one("total") ? int(one("total")!, "total", 1, 1_000_000_000) : undefined,
    durationMs: one("duration") ? parseDurationMs(one("duration")!, "-z") : 10_000,
    rps: one("rps") ? positive(one("rps")!, "rps", 1_000_000) : undefined,
    warmupMs: one("warmup") ? parseDurationMs(one("warmup")!, "--warmup") : 2_000,
    timeoutMs: one("timeout") ? parseDurationMs(one("timeout")!, "-t") : 20_000,
    connections: one("connections") ? int(one("connections")!, "connections", 1, MAX_CONNECTIONS) : 1,
    format,
    output: one("output"),
    scenarios: parseScenarioList(scenarioFlag ?? "all"),
    rounds: one("rounds") ? int(one("rounds")!, "rounds", 1, MAX_ROUNDS) : 3,
    accounts: one("accounts") ? int(one("accounts")!, "accounts", 3, MAX_ACCOUNTS) : 10_000,
    soakMinutes: soak !== undefined ? positive(soak, "soak", 24 * 60) : undefined,
    sampleIntervalMs: one("sample-interval") ? parseDurationMs(one("sample-interval")!, "--sample-interval") : 5_000,
    ghzDataDir: one("ghz-data"),
    logLevel: one("log-level") ?? "warn",
    serverEnv,
    serverNodeArgs: (one("server-node-args") ?? "").split(/\s+/).filter(Boolean),
    port: port !== undefined ? int(port, "port", 1, 65_535) : undefined,
    tls,
    pgbench: one("pgbench"),
    pgbenchScale: one("pgbench-scale") ? int(one("pgbench-scale")!, "pgbench-scale", 1, 1000) : 10,
    baselines: !bool("no-baselines"),
    saveResults: !bool("no-results"),
    resultsDir: one("results-dir") ?? "bench/results",
  };
}
