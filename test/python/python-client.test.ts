/**
 * The contract in proto/ works from another language: a Python client
 * (grpcio + protoc-generated stubs, nothing from this codebase) runs its
 * unittest suite, contract_test.py, against the real service.
 *
 * Skipped, saying what is missing, when this machine has no Python with
 * grpcio or no protoc/grpc_python_plugin; .ci/run installs them, so CI runs it.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { findPythonToolchain, generatePythonStubs, runPythonSuite, SUITE_DIR } from "./toolchain.js";

/** The whole Python suite takes a few seconds; this bounds a hung one. */
const SUITE_TIMEOUT_MS = 90_000;
const MODULE = "contract_test";

const lookup = findPythonToolchain();
const skipNote = lookup.toolchain ? "" : ` (skipped: missing ${lookup.missing.join("; ")})`;
if (!lookup.toolchain) console.warn(`python-client.test.ts skipped: missing ${lookup.missing.join("; ")}`);

/** How many test methods contract_test.py defines: all of them must run, none skipped. */
const expectedTests = (readFileSync(path.join(SUITE_DIR, `${MODULE}.py`), "utf8").match(/^\s+def test_/gm) ?? []).length;

let server: TestServer | undefined;
let workDir: string | undefined;

beforeAll(async () => {
  if (!lookup.toolchain) return;
  workDir = mkdtempSync(path.join(tmpdir(), "lor-python-"));
  mkdirSync(path.join(workDir, "stubs"));
  generatePythonStubs(lookup.toolchain, workDir, path.join(workDir, "stubs"));
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe("a Python gRPC client", () => {
  it.skipIf(!lookup.toolchain)(
    `passes contract_test.py: reflection, health, users, money, idempotency, error details, audit${skipNote}`,
    async () => {
      let child: ChildProcess | undefined;
      // If vitest gives up on this test (timeout), the Python process goes too.
      onTestFinished(() => {
        if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      });
      const run = await runPythonSuite(lookup.toolchain!, {
        module: MODULE,
        address: server!.grpcAddress,
        stubsDir: path.join(workDir!, "stubs"),
        timeoutMs: SUITE_TIMEOUT_MS,
        started: (c) => (child = c),
      });
      const report = `python ${MODULE} exited with ${run.code ?? run.signal}:\n${run.output}`;
      expect(run.code, report).toBe(0);
      expect(run.output, report).toContain(`Ran ${expectedTests} tests`);
      expect(run.output, report).toMatch(/^OK$/m);
    },
    SUITE_TIMEOUT_MS + 30_000,
  );
});
