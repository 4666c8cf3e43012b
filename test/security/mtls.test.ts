/**
 * mTLS mode on the running service: the handshake refuses client
 * certificates of another CA on both ports; a valid certificate's SPIFFE ID
 * is the caller, recorded as the audit actor whatever `x-actor` claims (that
 * is recorded as on_behalf_of); a foreign grpc-js client built from the
 * .proto files runs a money flow; and new certificate files are served to
 * new connections after SIGHUP, without a restart.
 */
import { randomUUID, X509Certificate } from "node:crypto";
import { copyFileSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestPki, PAYMENTS_SPIFFE_ID, type IssuedCertificate, type TestPki } from "../support/certs.js";
import { errorDetails, failure, loadClient, unary } from "../support/foreign-client.js";
import { key } from "../support/ledger.js";
import { connectPost, grpcLedger, refusal } from "../support/mtls-clients.js";
import { until } from "../support/poll.js";
import { databaseState, recordingLogger, secureClients, startSecureServer, writePolicy, type SecureServer } from "../support/secure.js";

const IMPOSTOR = "spiffe://aevon/ns/evil/sa/impostor";

let pki: TestPki;
let server: SecureServer;

beforeAll(async () => {
  pki = makeTestPki();
  const policy = writePolicy(pki.dir, "policy", {
    name: "mtls-tests",
    allow_rules: [{ name: "payments", source: { principals: [PAYMENTS_SPIFFE_ID] } }],
    ledger: { debit_grants: [{ name: "payments", principals: [PAYMENTS_SPIFFE_ID], accounts: ["mint", "user"] }] },
  });
  server = await startSecureServer({
    TLS_CERT_FILE: pki.server.certFile,
    TLS_KEY_FILE: pki.server.keyFile,
    TLS_CLIENT_CA_FILE: pki.ca.certFile,
    AUTHZ_POLICY_FILE: policy,
  });
});
afterAll(async () => {
  await server?.close();
  pki?.cleanup();
});

describe("the mTLS handshake", () => {
  it("refuses a client certificate from another CA, and none at all, on the gRPC port; a valid one gets in", async () => {
    const before = await databaseState(server.database);
    for (const client of [pki.otherCaClient, undefined]) {
      const { ledger } = grpcLedger(server.grpcPort, pki.ca.cert, client);
      const error = await failure(unary(ledger, "ListCurrencies", {}, { deadlineMs: 5_000 }));
      // UNAVAILABLE is how grpc-js reports a connection that could not be set up: no call reached the service.
      expect(error.code).toBe(grpc.status.UNAVAILABLE);
      expect(errorDetails(error).errorInfo).toBeUndefined();
      ledger.close();
    }
    const { ledger } = grpcLedger(server.grpcPort, pki.ca.cert, pki.paymentsClient);
    expect((await unary(ledger, "ListCurrencies", {})).currencies.length).toBeGreaterThan(0);
    ledger.close();
    expect(await databaseState(server.database)).toEqual(before);
  });

  it("refuses a client certificate from another CA, and none at all, on the Connect port (TLS alert); a valid one gets in", async () => {
    const wrongCa = await refusal(connectPost(server.connectPort, "aevon.ledger.v1.LedgerService/ListCurrencies", pki.ca.cert, pki.otherCaClient));
    expect(`${wrongCa.code} ${wrongCa.message}`).toMatch(/unknown ca|ECONNRESET|socket hang up/i);
    const none = await refusal(connectPost(server.connectPort, "aevon.ledger.v1.LedgerService/ListCurrencies", pki.ca.cert, undefined));
    expect(`${none.code} ${none.message}`).toMatch(/certificate required|ECONNRESET|socket hang up/i);
    const ok = await connectPost(server.connectPort, "aevon.ledger.v1.LedgerService/ListCurrencies", pki.ca.cert, pki.paymentsClient);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).currencies.length).toBeGreaterThan(0);
  });
});

describe.each(["grpc", "connect"] as const)("the caller's principal on the %s port", (port) => {
  it("is the certificate's SPIFFE ID: the audit actor, with x-actor recorded as on_behalf_of", async () => {
    const { identity, audit } = secureClients(server, { ca: pki.ca.cert, cert: pki.paymentsClient.cert, key: pki.paymentsClient.key, actor: IMPOSTOR }, port);
    const { user } = await identity.createUser({ idempotencyKey: key("u"), handle: `p_${port}_${randomUUID().slice(0, 8)}` });
    const stored = await server.database.sql<{ actor: string; on_behalf_of: string | null }>(
      "SELECT actor, on_behalf_of FROM audit_events WHERE resource_type = 'user' AND resource_id = $1",
      [user!.id],
    );
    expect(stored.rows).toEqual([{ actor: PAYMENTS_SPIFFE_ID, on_behalf_of: IMPOSTOR }]);
    // As the audit API reports it, and as its actor filter finds it.
    const listed = await audit.listEvents({ resourceType: "user", resourceId: user!.id });
    expect(listed.events.map((e) => ({ actor: e.actor, onBehalfOf: e.onBehalfOf }))).toEqual([{ actor: PAYMENTS_SPIFFE_ID, onBehalfOf: IMPOSTOR }]);
    expect((await audit.listEvents({ actor: IMPOSTOR })).events).toEqual([]);
  });
});

describe("a foreign grpc-js client (only the .proto files) over mTLS", () => {
  it("creates users, mints with its grant, transfers and reads balances", async () => {
    const credentials = grpc.credentials.createSsl(pki.ca.cert, pki.paymentsClient.key, pki.paymentsClient.cert);
    const address = `127.0.0.1:${server.grpcPort}`;
    const options = { "grpc.ssl_target_name_override": "localhost" }; // the certificate's DNS name (SNI is never an IP address)
    const identity = loadClient("aevon/identity/v1/identity.proto", "aevon.identity.v1.IdentityService", address, credentials, options);
    const ledger = loadClient("aevon/ledger/v1/ledger.proto", "aevon.ledger.v1.LedgerService", address, credentials, options);
    const wallet = async () => {
      const { user } = await unary(identity, "CreateUser", { idempotencyKey: randomUUID(), handle: `f${randomUUID().slice(0, 8)}` });
      return (await unary(ledger, "ListAccounts", { owner: { userId: user.id } })).accounts[0];
    };
    const [alice, bob] = [await wallet(), await wallet()];
    const issuance = (await unary(ledger, "ListAccounts", { owner: { system: "SYSTEM_ACCOUNT_ISSUANCE" }, currency: alice.currency })).accounts[0];
    await unary(ledger, "Transfer", { idempotencyKey: randomUUID(), debitAccountId: issuance.id, creditAccountId: alice.id, amount: "1000" });
    await unary(ledger, "Transfer", { idempotencyKey: randomUUID(), debitAccountId: alice.id, creditAccountId: bob.id, amount: "250" });
    expect((await unary(ledger, "GetBalance", { accountId: alice.id })).balance.posted).toBe("750");
    expect((await unary(ledger, "GetBalance", { accountId: bob.id })).balance.posted).toBe("250");
    // Its grants cover minting and user accounts, not the treasury.
    const treasury = (await unary(ledger, "ListAccounts", { owner: { system: "SYSTEM_ACCOUNT_TREASURY" }, currency: alice.currency })).accounts[0];
    const refused = await failure(unary(ledger, "Transfer", { idempotencyKey: randomUUID(), debitAccountId: treasury.id, creditAccountId: bob.id, amount: "1" }));
    expect(refused.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(errorDetails(refused).errorInfo?.reason).toBe("DEBIT_NOT_PERMITTED");
    identity.close();
    ledger.close();
  });
});

describe("certificate reload without restart", () => {
  let live: SecureServer;
  let files: { cert: string; key: string; ca: string };
  const { logger, lines } = recordingLogger();

  beforeAll(async () => {
    const dir = path.join(pki.dir, "live");
    mkdirSync(dir);
    files = { cert: path.join(dir, "tls.crt"), key: path.join(dir, "tls.key"), ca: path.join(dir, "ca.crt") };
    copyFileSync(pki.server.certFile, files.cert);
    copyFileSync(pki.server.keyFile, files.key);
    copyFileSync(pki.ca.certFile, files.ca);
    live = await startSecureServer({ TLS_CERT_FILE: files.cert, TLS_KEY_FILE: files.key, TLS_CLIENT_CA_FILE: files.ca }, { logger });
  });
  afterAll(async () => {
    await live?.close();
  });

  const fingerprint = (c: IssuedCertificate) => new X509Certificate(c.cert).fingerprint256;
  const replace = (file: string, contents: Buffer) => {
    writeFileSync(`${file}.tmp`, contents);
    renameSync(`${file}.tmp`, file);
  };
  const reloads = () => lines.filter((l) => (l.tls as { type?: string } | undefined)?.type === "reloaded").map((l) => l.tls as { trigger: string; fingerprint256: string });

  it("on SIGHUP, new connections on both ports get the new server certificate and client CA", async () => {
    const before = grpcLedger(live.grpcPort, pki.ca.cert, pki.paymentsClient);
    await unary(before.ledger, "ListCurrencies", {});
    expect(before.serverFingerprint()).toBe(fingerprint(pki.server));

    const newCa = pki.makeCa("rotated-ca");
    const newServer = pki.issue({ name: "rotated-server", cn: "localhost", san: ["DNS:localhost", "IP:127.0.0.1"], usage: "server", ca: newCa });
    const newClient = pki.issue({ name: "rotated-payments", san: [`URI:${PAYMENTS_SPIFFE_ID}`], usage: "client", ca: newCa });
    replace(files.cert, newServer.cert);
    replace(files.key, newServer.key);
    replace(files.ca, newCa.cert);
    // What `kill -HUP <pid>` delivers, without ending the test worker should no handler be installed.
    process.emit("SIGHUP", "SIGHUP");
    expect((await until(async () => reloads(), (r) => r.length > 0))[0]).toMatchObject({ trigger: "sighup", fingerprint256: fingerprint(newServer) });

    // gRPC port: a new connection is served the new certificate and must present a certificate of the new CA.
    const fresh = grpcLedger(live.grpcPort, newCa.cert, newClient);
    expect((await unary(fresh.ledger, "ListCurrencies", {})).currencies.length).toBeGreaterThan(0);
    expect(fresh.serverFingerprint()).toBe(fingerprint(newServer));
    const oldClient = grpcLedger(live.grpcPort, newCa.cert, pki.paymentsClient);
    expect((await failure(unary(oldClient.ledger, "ListCurrencies", {}, { deadlineMs: 5_000 }))).code).toBe(grpc.status.UNAVAILABLE);
    // The connection opened before the reload carries on.
    expect((await unary(before.ledger, "ListCurrencies", {})).currencies.length).toBeGreaterThan(0);
    for (const c of [before, fresh, oldClient]) c.ledger.close();

    // Connect port: the same.
    const answer = await connectPost(live.connectPort, "aevon.ledger.v1.LedgerService/ListCurrencies", newCa.cert, newClient);
    expect({ status: answer.status, fingerprint: answer.serverFingerprint }).toEqual({ status: 200, fingerprint: fingerprint(newServer) });
    await refusal(connectPost(live.connectPort, "aevon.ledger.v1.LedgerService/ListCurrencies", newCa.cert, pki.paymentsClient));
    // A client still trusting only the old CA refuses the new server certificate.
    await refusal(connectPost(live.connectPort, "aevon.ledger.v1.LedgerService/ListCurrencies", pki.ca.cert, newClient));
  });
});
