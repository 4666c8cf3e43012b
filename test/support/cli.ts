/**
 * Runs the operator CLI as a child process, as an operator would: the
 * compiled file package.json's `bin` names (built by `npm install` and
 * `npm test`), with only the environment the test gives it.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "./doc-commands.js";

const bin = (JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { bin: Record<string, string> }).bin;
/** The compiled CLI, as `npx ledger-of-record` runs it. */
export const CLI_PATH = path.join(REPO_ROOT, bin["ledger-of-record"]!);

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Bound on one run: every command here finishes in a few seconds. */
const RUN_TIMEOUT_MS = 60_000;

/**
 * Runs `ledger-of-record ...args` with `env` (plus PATH and HOME, and none of
 * the test process's database variables). Asynchronous, so a server in this
 * process keeps serving meanwhile.
 */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: run npm run build first`);
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    timeout: RUN_TIMEOUT_MS,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}
