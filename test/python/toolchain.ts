/**
 * The Python side of the cross-language contract test: finds a Python with
 * grpcio and protobuf plus protoc and grpc_python_plugin, generates Python
 * stubs from proto/ into a temporary directory, and runs the unittest suite.
 *
 * On Debian: apt-get install python3-grpcio python3-protobuf protobuf-compiler
 * protobuf-compiler-grpc libprotobuf-dev (the last one holds the
 * google/protobuf/*.proto sources protoc needs; .ci/run installs them all).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { accessSync, constants, cpSync, existsSync, readdirSync, realpathSync, statSync } from "node:fs";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../..");
const PROTO_ROOT = path.join(ROOT, "proto");
/** Where contract_test.py and lor_client.py live. */
export const SUITE_DIR = import.meta.dirname;

/**
 * Python package the vendored protos (proto/grpc, proto/google) are generated
 * under. Generated as they are, proto/grpc would become a top-level Python
 * package `grpc` that shadows the grpc library; google/rpc could likewise be
 * shadowed by an installed googleapis-common-protos. Only the Python module
 * path changes: proto packages, and so service names on the wire, do not.
 */
export const VENDOR_PACKAGE = "lor_vendor";
const VENDORED = ["grpc", "google"];
/**
 * Vendored protos that aevon.* import, generated where they are (a Python
 * package `buf.validate`, as protovalidate's own Python stubs are): moved
 * under VENDOR_PACKAGE, the imports in aevon.* would no longer resolve.
 */
const IMPORTED_AS_IS = ["buf"];

/** Bound on each probe of a candidate Python (an import of grpc takes well under a second). */
const PROBE_TIMEOUT_MS = 15_000;
/** Bound on protoc over all of proto/ (a second or two). */
const PROTOC_TIMEOUT_MS = 60_000;

export interface PythonToolchain {
  /** A python3 that can `import grpc, google.protobuf`. */
  python: string;
  protoc: string;
  grpcPythonPlugin: string;
  /** Include directory holding google/protobuf/*.proto (the well-known types). */
  wellKnownInclude: string;
}

export type ToolchainLookup = { toolchain: PythonToolchain; missing: [] } | { toolchain: undefined; missing: string[] };

function onPath(name: string): string[] {
  const found: string[] = [];
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) found.push(file);
    } catch {
      // not here
    }
  }
  return found;
}

/** Environment for the Python processes: ours, minus anything that would redirect Python's own library. */
function pythonEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONDONTWRITEBYTECODE: "1", PYTHONUNBUFFERED: "1", ...extra };
  delete env.PYTHONHOME;
  return env;
}

/** /usr/bin/python3 (Debian's, where python3-grpcio installs), else the first python3 on PATH that imports grpc. */
function findPython(): string | undefined {
  const candidates = [...new Set(["/usr/bin/python3", ...onPath("python3")])];
  return candidates.find((python) => {
    if (!existsSync(python)) return false;
    const probe = spawnSync(python, ["-c", "import grpc, google.protobuf"], { env: pythonEnv({}), timeout: PROBE_TIMEOUT_MS, stdio: "ignore" });
    return probe.status === 0;
  });
}

function findWellKnownInclude(protoc: string): string | undefined {
  const candidates = [path.resolve(path.dirname(realpathSync(protoc)), "../include"), "/usr/include", "/usr/local/include"];
  return candidates.find((dir) => existsSync(path.join(dir, "google/protobuf/timestamp.proto")));
}

/** Everything the Python suite needs, or what is missing (for the skip message). */
export function findPythonToolchain(): ToolchainLookup {
  const missing: string[] = [];
  const python = findPython();
  if (!python) missing.push("a python3 that can `import grpc, google.protobuf` (python3-grpcio, python3-protobuf)");
  const protoc = onPath("protoc")[0];
  if (!protoc) missing.push("protoc (protobuf-compiler)");
  const grpcPythonPlugin = onPath("grpc_python_plugin")[0];
  if (!grpcPythonPlugin) missing.push("grpc_python_plugin (protobuf-compiler-grpc)");
  const wellKnownInclude = protoc ? findWellKnownInclude(protoc) : undefined;
  if (protoc && !wellKnownInclude) missing.push("google/protobuf/*.proto for protoc (libprotobuf-dev)");
  if (python && protoc && grpcPythonPlugin && wellKnownInclude) {
    return { toolchain: { python, protoc, grpcPythonPlugin, wellKnownInclude }, missing: [] };
  }
  return { toolchain: undefined, missing };
}

function protoFiles(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return protoFiles(full, base);
    return name.endsWith(".proto") ? [path.relative(base, full)] : [];
  });
}

/**
 * Generates Python messages and gRPC stubs for all of proto/ into `outDir`
 * (aevon.* as they are, the vendored protos under VENDOR_PACKAGE), using
 * `workDir` for the rearranged .proto tree. Throws with protoc's output on failure.
 */
export function generatePythonStubs(toolchain: PythonToolchain, workDir: string, outDir: string): void {
  const tree = path.join(workDir, "proto");
  for (const own of ["aevon", ...IMPORTED_AS_IS]) cpSync(path.join(PROTO_ROOT, own), path.join(tree, own), { recursive: true });
  for (const vendored of VENDORED) {
    cpSync(path.join(PROTO_ROOT, vendored), path.join(tree, VENDOR_PACKAGE, vendored), { recursive: true });
  }
  const run = spawnSync(
    toolchain.protoc,
    [
      `-I${tree}`,
      `-I${toolchain.wellKnownInclude}`,
      `--python_out=${outDir}`,
      `--grpc_python_out=${outDir}`,
      `--plugin=protoc-gen-grpc_python=${toolchain.grpcPythonPlugin}`,
      ...protoFiles(tree),
    ],
    { encoding: "utf8", timeout: PROTOC_TIMEOUT_MS },
  );
  if (run.status !== 0) throw new Error(`protoc failed (status ${run.status}, signal ${run.signal}):\n${run.stdout}${run.stderr}`);
}

export interface SuiteRun {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr, interleaved as they came. */
  output: string;
}

/**
 * Runs the unittest module `module` (e.g. "contract_test") against the gRPC
 * `address`, with the stubs in `stubsDir`. The process is SIGKILLed after
 * `timeoutMs`, or earlier through `started(child)` by a caller that gives up.
 */
export function runPythonSuite(
  toolchain: PythonToolchain,
  options: { module: string; address: string; stubsDir: string; timeoutMs: number; started?: (child: ChildProcess) => void },
): Promise<SuiteRun> {
  const child = spawn(toolchain.python, ["-m", "unittest", "-v", options.module], {
    cwd: SUITE_DIR,
    env: pythonEnv({ LOR_GRPC_ADDRESS: options.address, PYTHONPATH: [options.stubsDir, SUITE_DIR].join(path.delimiter) }),
    stdio: ["ignore", "pipe", "pipe"],
    timeout: options.timeoutMs,
    killSignal: "SIGKILL",
  });
  options.started?.(child);
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal, output }));
  });
}
