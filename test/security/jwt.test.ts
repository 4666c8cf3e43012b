/**
 * JWT mode over TLS (server certificate, no client certificates; keys from a
 * JWKS file; a policy): a call without a valid bearer token is refused
 * UNAUTHENTICATED with its reason on both ports and changes nothing; health
 * and reflection still answer callers without a token.
 */
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, symlinkSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestPki, type TestPki } from "../support/certs.js";
import { documentCommands, readRepoFile, REPO_ROOT } from "../support/doc-commands.js";
import { loadClient, unary } from "../support/foreign-client.js";
import { expectFailure, key } from "../support/ledger.js";
import { databaseState, makeTokenIssuer, secureClients, startSecureServer, writePolicy, type SecureServer, type TokenIssuer } from "../support/secure.js";

const run = promisify(execFile);
const BUF = path.join(REPO_ROOT, "node_modules/.bin/buf");
const WRITER = "svc-writer";

let pki: TestPki;
let issuer: TokenIssuer;
let server: SecureServer;
let issuanceId: string;

beforeAll(async () => {
  pki = makeTestPki();
  issuer = await makeTokenIssuer(pki.dir);
  const policy = writePolicy(pki.dir, "policy", {
    name: "jwt-tests",
    allow_rules: [{ name: "writer", source: { principals: [WRITER] } }],
    ledger: { debit_grants: [{ name: "writer", principals: [WRITER], accounts: ["*"] }] },
  });
  server = await startSecureServer({ TLS_CERT_FILE: pki.server.certFile, TLS_KEY_FILE: pki.server.keyFile, AUTHZ_POLICY_FILE: policy, ...issuer.env });
  const { rows } = await server.database.sql<{ id: string }>("SELECT id FROM accounts WHERE owner_type = 'SYSTEM' AND owner_id = 'issuance' AND currency_code = 'AEV'");
  issuanceId = rows[0]!.id;
});
afterAll(async () => {
  await server?.close();
  pki?.cleanup();
});

describe.each(["grpc", "connect"] as const)("JWT mode on the %s port", (port) => {
  it("refuses missing, expired, forged and wrong-audience tokens with their reasons, and changes nothing", async () => {
    const valid = secureClients(server, { ca: pki.ca.cert, token: await issuer.token(WRITER) }, port);
    const { user } = await valid.identity.createUser({ idempotencyKey: key("u"), handle: `jwt_${port}_${Date.now() % 1e9}` });
    const wallet = (await valid.ledger.listAccounts({ owner: { owner: { case: "userId", value: user!.id } } })).accounts[0]!;
    const cases: [string, string | undefined][] = [
      ["CREDENTIALS_MISSING", undefined],
      ["TOKEN_EXPIRED", await issuer.token(WRITER, { exp: Math.floor(Date.now() / 1000) - 600 })],
      ["TOKEN_INVALID", await issuer.forged(WRITER)],
      ["TOKEN_AUDIENCE", await issuer.token(WRITER, { aud: "another-service" })],
    ];
    const before = await databaseState(server.database);
    for (const [reason, token] of cases) {
      const { identity, ledger } = secureClients(server, { ca: pki.ca.cert, token }, port);
      const error = await expectFailure(identity.createUser({ idempotencyKey: key("u"), handle: `h${Date.now() % 1e9}` }), Code.Unauthenticated, reason);
      expect(error.rawMessage).not.toContain(token ?? "Bearer");
      await expectFailure(ledger.transfer({ idempotencyKey: key("t"), debitAccountId: issuanceId, creditAccountId: wallet.id, amount: 100n }), Code.Unauthenticated, reason);
      await expectFailure(ledger.getBalance({ accountId: wallet.id }), Code.Unauthenticated, reason);
    }
    expect(await databaseState(server.database)).toEqual(before);
    // The same calls with a valid token do change it.
    await valid.ledger.transfer({ idempotencyKey: key("t"), debitAccountId: issuanceId, creditAccountId: wallet.id, amount: 100n });
    expect((await valid.ledger.getBalance({ accountId: wallet.id })).balance?.posted).toBe(100n);
    expect(await databaseState(server.database)).not.toEqual(before);
  });
});

describe("health and reflection in JWT mode", () => {
  it("answer a caller without a token: Health/Check, and a grpcurl-like `list` through reflection (buf curl)", async () => {
    const health = loadClient("grpc/health/v1/health.proto", "grpc.health.v1.Health", `127.0.0.1:${server.grpcPort}`, grpc.credentials.createSsl(pki.ca.cert), {
      "grpc.ssl_target_name_override": "localhost",
    });
    expect((await unary(health, "Check", { service: "" })).status).toBe("SERVING");
    health.close();
    // The same caller is refused a method of ours: the open door is health and reflection only.
    const { ledger } = secureClients(server, { ca: pki.ca.cert }, "grpc");
    await expectFailure(ledger.listCurrencies({}), Code.Unauthenticated, "CREDENTIALS_MISSING");

    const { stdout } = await run(BUF, ["curl", "--protocol", "grpc", "--cacert", pki.ca.certFile, "--list-services", `https://localhost:${server.grpcPort}`]);
    expect(stdout.split("\n")).toEqual(expect.arrayContaining(["aevon.ledger.v1.LedgerService", "aevon.identity.v1.IdentityService", "aevon.audit.v1.AuditService"]));
  });

  it("docs/SECURITY.md's buf curl commands with a token work on both ports (reflection on the gRPC port, --schema proto on the Connect port)", async () => {
    // The reader's folder: the CA as the doc names it, and the repository's proto/.
    const home = path.join(pki.dir, "home");
    mkdirSync(path.join(home, ".data/certs"), { recursive: true });
    copyFileSync(pki.ca.certFile, path.join(home, ".data/certs/ca.crt"));
    symlinkSync(path.join(REPO_ROOT, "proto"), path.join(home, "proto"));
    const token = await issuer.token(WRITER);
    const withToken = documentCommands(readRepoFile("docs/SECURITY.md")).filter((c) => c[0] === "npx" && c[1] === "buf" && c.some((w) => w.includes("$TOKEN")));
    expect(withToken.length).toBeGreaterThanOrEqual(2);
    for (const command of withToken) {
      const args = command
        .slice(2)
        .map((w) => w.replace("$TOKEN", token).replace("localhost:50051", `localhost:${server.grpcPort}`).replace("localhost:8080", `localhost:${server.connectPort}`));
      const { stdout } = await run(BUF, args, { cwd: home });
      const reply = JSON.parse(stdout);
      if (args.at(-1)!.endsWith("/GetCurrency")) expect(reply).toMatchObject({ currency: { code: "USD", scale: 2 } });
      else expect(reply.currencies.map((c: { code: string }) => c.code)).toEqual(expect.arrayContaining(["USD", "EUR", "AEV"]));
    }
  });
});
