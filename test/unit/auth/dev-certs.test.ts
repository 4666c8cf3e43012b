/**
 * scripts/dev-certs.sh makes material a real mTLS server and client accept.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { ReloadableTls } from "../../../src/auth/tls.js";
import { echoClient, startEchoServer } from "../../support/tls-echo.js";

const root = path.resolve(import.meta.dirname, "../../..");
const dir = mkdtempSync(path.join(tmpdir(), "ledger-dev-certs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("makes a CA, a localhost server certificate and SPIFFE client certificates that work for mTLS", async () => {
  const out = execFileSync("bash", [path.join(root, "scripts/dev-certs.sh"), "-o", dir, "spiffe://aevon/ns/audit/sa/auditor"], { encoding: "utf8" });
  expect(out).toContain(`made     ${dir}/auditor.crt`);
  const tls = await ReloadableTls.load({ certFile: `${dir}/server.crt`, keyFile: `${dir}/server.key`, clientCaFile: `${dir}/ca.crt`, watch: false, pollIntervalMs: 0 });
  const { server, address } = await startEchoServer(tls.grpcServerCredentials());
  const client = echoClient(address, readFileSync(`${dir}/ca.crt`), { cert: readFileSync(`${dir}/auditor.crt`), key: readFileSync(`${dir}/auditor.key`) });
  try {
    expect((await client.whoAmI()).principal).toBe("spiffe://aevon/ns/audit/sa/auditor");
  } finally {
    client.close();
    server.forceShutdown();
    tls.close();
  }
  expect(() => execFileSync("bash", [path.join(root, "scripts/dev-certs.sh"), "-o", dir, "spiffe://Not Valid/x"], { stdio: "pipe" })).toThrow(/is not a SPIFFE ID/);
});
