/**
 * Start-up refuses insecure or broken security settings before anything else
 * runs (no migration, no port): a malformed policy names its rule, a missing
 * TLS key names its variable, and production refuses to serve without
 * caller authentication unless AUTH_MODE=insecure says so.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestPki, type TestPki } from "../support/certs.js";
import { createEmptyDatabase, type TestDatabase } from "../support/db.js";
import { startFailure, startSecureServer, writePolicy } from "../support/secure.js";

let pki: TestPki;
let db: TestDatabase;

beforeAll(async () => {
  pki = makeTestPki();
  // Empty: had the start got as far as migrations, tables would appear.
  db = await createEmptyDatabase();
});
afterAll(async () => {
  await db?.drop();
  pki?.cleanup();
});

async function expectNothingMigrated(): Promise<void> {
  const { rows } = await db.sql<{ n: number }>("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'");
  expect(rows[0]!.n).toBe(0);
}

describe("start-up refuses broken security files, naming what is wrong", () => {
  it("a policy with a malformed rule: the error names the rule and its field", async () => {
    const policy = writePolicy(pki.dir, "bad-policy", {
      name: "bad",
      allow_rules: [
        { name: "fine", source: { principals: ["svc-a"] } },
        { name: "payments-read", source: { principals: ["svc-b"] }, request: { paths: ["/x"] } },
      ],
    });
    const error = await startFailure({ AUTHZ_POLICY_FILE: policy }, db);
    expect(error.message).toContain(policy);
    expect(error.message).toMatch(/allow_rules\[1\] "payments-read": request\.paths\[0\] "\/x" is not a method path/);
    await expectNothingMigrated();
  });

  it("a missing TLS key file: the error names TLS_KEY_FILE and the path", async () => {
    const missing = path.join(pki.dir, "no-such.key");
    const error = await startFailure({ TLS_CERT_FILE: pki.server.certFile, TLS_KEY_FILE: missing }, db);
    expect(error.message).toContain(`TLS_KEY_FILE ${missing}: ENOENT`);
    await expectNothingMigrated();
  });
});

describe("production refuses to run open", () => {
  it.each([
    ["nothing configured", false],
    ["server TLS only (no client CA, no JWT keys)", true],
  ])("NODE_ENV=production with %s: refused, naming TLS_CLIENT_CA_FILE, JWT and AUTH_MODE=insecure", async (_name, serverTls) => {
    const env = { NODE_ENV: "production", ...(serverTls ? { TLS_CERT_FILE: pki.server.certFile, TLS_KEY_FILE: pki.server.keyFile } : {}) };
    const error = await startFailure(env, db);
    expect(error.message).toMatch(/TLS_CLIENT_CA_FILE/);
    expect(error.message).toMatch(/JWT_JWKS_FILE \/ JWT_JWKS_URL/);
    expect(error.message).toMatch(/AUTH_MODE=insecure/);
    await expectNothingMigrated();
  });
});

describe("production refuses to run without an authorization policy", () => {
  it("NODE_ENV=production with mTLS but no AUTHZ_POLICY_FILE: refused, naming AUTHZ_POLICY_FILE and AUTH_MODE=insecure", async () => {
    const env = { NODE_ENV: "production", TLS_CERT_FILE: pki.server.certFile, TLS_KEY_FILE: pki.server.keyFile, TLS_CLIENT_CA_FILE: pki.ca.certFile };
    const error = await startFailure(env, db);
    expect(error.message).toMatch(/AUTHZ_POLICY_FILE/);
    expect(error.message).toMatch(/AUTH_MODE=insecure/);
    await expectNothingMigrated();
  });
});

describe("settings beyond what their part takes", () => {
  it("JWT_CLOCK_TOLERANCE_SECONDS above 300 is refused naming the variable", async () => {
    const error = await startFailure(
      { JWT_ISSUER: "https://issuer.example", JWT_AUDIENCE: "ledger", JWT_JWKS_FILE: path.join(pki.dir, "unused.json"), JWT_CLOCK_TOLERANCE_SECONDS: "600" },
      db,
    );
    expect(error.message).toMatch(/^JWT_CLOCK_TOLERANCE_SECONDS must be between 0 and 300/);
    await expectNothingMigrated();
  });

  it.each([
    ["RATE_LIMIT_READ_PER_SECOND", "2000000"],
    ["RATE_LIMIT_WRITE_BURST", "2000000"],
  ])("%s beyond what the limiter takes is refused naming the variable", async (name, value) => {
    const error = await startFailure({ [name]: value }, db);
    expect(error.message).toMatch(new RegExp(`^${name} must be between`));
    await expectNothingMigrated();
  });

  it("a high rate without a burst starts (the default burst, twice the rate, stays within bounds)", async () => {
    const server = await startSecureServer({ RATE_LIMIT_WRITE_PER_SECOND: "600000", RATE_LIMIT_READ_PER_SECOND: "1000000" });
    await server.close();
  });
});
