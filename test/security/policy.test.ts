/**
 * The authorization policy on the running service (mTLS principals): a
 * method outside a principal's rules is PERMISSION_DENIED and changes
 * nothing, an allowed one succeeds, a deny rule beats an allow rule, health
 * is open unless denied; and the debit grants: minting needs `mint`, a
 * principal granted `user` cannot debit the treasury, and the refusal is the
 * key's final outcome.
 */
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { SystemAccount } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { makeTestPki, PAYMENTS_SPIFFE_ID, type IssuedCertificate, type TestPki } from "../support/certs.js";
import { errorDetails, failure, loadClient, unary } from "../support/foreign-client.js";
import { expectFailure, key } from "../support/ledger.js";
import { databaseState, secureClients, startSecureServer, writePolicy, type SecureClients, type SecureServer } from "../support/secure.js";

const SETUP = "spiffe://aevon/ns/ops/sa/setup";
const MINTER = "spiffe://aevon/ns/treasury/sa/minter";
const REVERSE = "/aevon.ledger.v1.LedgerService/ReverseTransfer";

let pki: TestPki;
let server: SecureServer;
let certs: { setup: IssuedCertificate; minter: IssuedCertificate };

beforeAll(async () => {
  pki = makeTestPki();
  certs = {
    setup: pki.issue({ name: "setup", san: [`URI:${SETUP}`], usage: "client" }),
    minter: pki.issue({ name: "minter", san: [`URI:${MINTER}`], usage: "client" }),
  };
  const policy = writePolicy(pki.dir, "policy", {
    name: "policy-tests",
    deny_rules: [{ name: "payments-never-reverse", source: { principals: ["spiffe://aevon/ns/payments/*"] }, request: { paths: [REVERSE] } }],
    allow_rules: [
      { name: "setup", source: { principals: [SETUP] }, request: { paths: ["*"] } },
      { name: "payments", source: { principals: [PAYMENTS_SPIFFE_ID] }, request: { paths: ["/aevon.ledger.v1.LedgerService/*"] } },
      {
        name: "minter",
        source: { principals: [MINTER] },
        request: { paths: ["/aevon.ledger.v1.LedgerService/Transfer", "/aevon.ledger.v1.LedgerService/GetBalance"] },
      },
    ],
    ledger: {
      debit_grants: [
        { name: "setup", principals: [SETUP], accounts: ["user"] },
        { name: "payments", principals: [PAYMENTS_SPIFFE_ID], accounts: ["user"] },
        { name: "treasury-mints", principals: [MINTER], accounts: ["mint"] },
      ],
    },
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

const as = (cert: IssuedCertificate, port: "grpc" | "connect" = "grpc"): SecureClients => secureClients(server, { ca: pki.ca.cert, cert: cert.cert, key: cert.key }, port);

async function systemAccount(role: SystemAccount, currency = "USD"): Promise<string> {
  const { accounts } = await as(certs.setup).ledger.listAccounts({ owner: { owner: { case: "system", value: role } }, currency });
  return accounts[0]!.id;
}

/** A USD account of a new user, funded by the minter. */
async function account(amount = 0n): Promise<string> {
  const setup = as(certs.setup);
  const { user } = await setup.identity.createUser({ idempotencyKey: key("u"), handle: `pol_${randomUUID().slice(0, 8)}` });
  const { account: created } = await setup.ledger.createAccount({ idempotencyKey: key("a"), owner: { owner: { case: "userId", value: user!.id } }, currency: "USD" });
  if (amount > 0n) {
    await as(certs.minter).ledger.transfer({ idempotencyKey: key("mint"), debitAccountId: await systemAccount(SystemAccount.ISSUANCE), creditAccountId: created!.id, amount });
  }
  return created!.id;
}

describe.each(["grpc", "connect"] as const)("method authorization on the %s port", (port) => {
  it("refuses a method outside the principal's rules (and changes nothing); an allowed method succeeds", async () => {
    const [from, to] = [await account(500n), await account()];
    const payments = as(pki.paymentsClient, port);
    const before = await databaseState(server.database);
    const error = await expectFailure(
      payments.identity.createUser({ idempotencyKey: key("u"), handle: `pol_${randomUUID().slice(0, 8)}` }),
      Code.PermissionDenied,
      "PERMISSION_DENIED",
    );
    expect(error.findDetails(ErrorInfoSchema)[0]?.metadata.method).toBe("/aevon.identity.v1.IdentityService/CreateUser");
    // The minter's rules name two methods; a third is refused.
    await expectFailure(as(certs.minter, port).ledger.listAccounts({ currency: "USD" }), Code.PermissionDenied, "PERMISSION_DENIED");
    expect(await databaseState(server.database)).toEqual(before);

    const { transfer } = await payments.ledger.transfer({ idempotencyKey: key("t"), debitAccountId: from, creditAccountId: to, amount: 200n });
    expect(transfer?.debitBalanceAfter).toBe(300n);
  });

  it("a deny rule beats an allow rule: ReverseTransfer is refused to payments, not to another principal", async () => {
    const [from, to] = [await account(500n), await account()];
    const payments = as(pki.paymentsClient, port);
    const { transfer } = await payments.ledger.transfer({ idempotencyKey: key("t"), debitAccountId: from, creditAccountId: to, amount: 100n });
    await expectFailure(payments.ledger.reverseTransfer({ idempotencyKey: key("r"), transferId: transfer!.id, amount: 100n }), Code.PermissionDenied, "PERMISSION_DENIED");
    expect((await payments.ledger.getTransfer({ lookup: { case: "transferId", value: transfer!.id } })).transfer?.reversedAmount).toBe(0n);
    // The method itself works for a principal the deny rule does not match.
    const { original } = await as(certs.setup, port).ledger.reverseTransfer({ idempotencyKey: key("r"), transferId: transfer!.id, amount: 100n });
    expect(original?.reversedAmount).toBe(100n);
  });
});

describe("health under a policy", () => {
  const check = async (port: number, cert: IssuedCertificate) => {
    const health = loadClient("grpc/health/v1/health.proto", "grpc.health.v1.Health", `127.0.0.1:${port}`, grpc.credentials.createSsl(pki.ca.cert, cert.key, cert.cert), {
      "grpc.ssl_target_name_override": "localhost",
    });
    try {
      return await unary(health, "Check", { service: "" });
    } finally {
      health.close();
    }
  };

  it("answers a principal without any rule for it, unless a deny rule matches Health", async () => {
    // The minter's allow rules name no health method: health is open by default.
    expect((await check(server.grpcPort, certs.minter)).status).toBe("SERVING");
    const denying = writePolicy(pki.dir, "deny-health", {
      name: "deny-health",
      deny_rules: [{ name: "no-health", request: { paths: ["/grpc.health.v1.Health/*"] } }],
      allow_rules: [{ name: "everyone", source: { principals: ["*"] } }],
    });
    const other = await startSecureServer({
      TLS_CERT_FILE: pki.server.certFile,
      TLS_KEY_FILE: pki.server.keyFile,
      TLS_CLIENT_CA_FILE: pki.ca.certFile,
      AUTHZ_POLICY_FILE: denying,
    });
    try {
      const error = await failure(check(other.grpcPort, certs.minter));
      expect(error.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(errorDetails(error).errorInfo?.reason).toBe("PERMISSION_DENIED");
      // Everything else is allowed there.
      expect((await secureClients(other, { ca: pki.ca.cert, cert: certs.minter.cert, key: certs.minter.key }, "grpc").ledger.listCurrencies({})).currencies.length).toBeGreaterThan(0);
    } finally {
      await other.close();
    }
  });
});

describe("debit grants", () => {
  it("minting from ISSUANCE needs the mint grant: refused (DEBIT_NOT_PERMITTED, nothing moves) without it, final for its key; done with it", async () => {
    const wallet = await account();
    const issuance = await systemAccount(SystemAccount.ISSUANCE);
    const payments = as(pki.paymentsClient);
    const mintKey = key("mint");
    const before = await databaseState(server.database);
    const first = await expectFailure(
      payments.ledger.transfer({ idempotencyKey: mintKey, debitAccountId: issuance, creditAccountId: wallet, amount: 1000n }),
      Code.PermissionDenied,
      "DEBIT_NOT_PERMITTED",
      "debit_account_id",
    );
    expect(first.findDetails(ErrorInfoSchema)[0]?.metadata.account_kind).toBe("system:issuance");
    // Nothing moved; the key now holds the refusal (final outcome), and only that.
    const after = await databaseState(server.database);
    expect({ ...after, idempotency_keys: before.idempotency_keys }).toEqual(before);
    expect(Number(after.idempotency_keys)).toBe(Number(before.idempotency_keys) + 1);
    const stored = await server.database.sql<{ refused: boolean; replied: boolean }>(
      // A refusal is stored as bytes (interactive paths) or as data (Transfer's one-statement path).
      "SELECT (refusal IS NOT NULL OR outcome ? 'refusal') AS refused, (response IS NOT NULL OR outcome ? 'transfer') AS replied FROM idempotency_keys WHERE key = $1",
      [mintKey],
    );
    expect(stored.rows).toEqual([{ refused: true, replied: false }]);
    // A retry with the same key gets the same refusal.
    const again = await expectFailure(
      payments.ledger.transfer({ idempotencyKey: mintKey, debitAccountId: issuance, creditAccountId: wallet, amount: 1000n }),
      Code.PermissionDenied,
      "DEBIT_NOT_PERMITTED",
    );
    expect(again.rawMessage).toBe(first.rawMessage);
    expect(await databaseState(server.database)).toEqual(after);
    // Holds and batch legs debit too.
    await expectFailure(
      payments.ledger.createHold({ idempotencyKey: key("h"), debitAccountId: issuance, creditAccountId: wallet, amount: 1n }),
      Code.PermissionDenied,
      "DEBIT_NOT_PERMITTED",
    );
    await expectFailure(
      payments.ledger.transferBatch({ idempotencyKey: key("b"), legs: [{ debitAccountId: issuance, creditAccountId: wallet, amount: 1n }] }),
      Code.PermissionDenied,
      "DEBIT_NOT_PERMITTED",
    );
    expect((await payments.ledger.getBalance({ accountId: wallet })).balance?.posted).toBe(0n);

    // With the grant, the same mint goes through.
    const { transfer } = await as(certs.minter).ledger.transfer({ idempotencyKey: key("mint"), debitAccountId: issuance, creditAccountId: wallet, amount: 1000n });
    expect(transfer?.creditBalanceAfter).toBe(1000n);
  });

  it("a principal granted only `user` cannot debit system:treasury, and may debit a user account", async () => {
    const [from, to] = [await account(300n), await account()];
    const treasury = await systemAccount(SystemAccount.TREASURY);
    const payments = as(pki.paymentsClient);
    const before = await databaseState(server.database);
    const error = await expectFailure(
      payments.ledger.transfer({ idempotencyKey: key("t"), debitAccountId: treasury, creditAccountId: to, amount: 1n }),
      Code.PermissionDenied,
      "DEBIT_NOT_PERMITTED",
    );
    expect(error.findDetails(ErrorInfoSchema)[0]?.metadata.account_kind).toBe("system:treasury");
    expect({ ...(await databaseState(server.database)), idempotency_keys: before.idempotency_keys }).toEqual(before);
    expect((await payments.ledger.transfer({ idempotencyKey: key("t"), debitAccountId: from, creditAccountId: to, amount: 300n })).transfer?.creditBalanceAfter).toBe(300n);
  });
});
