/**
 * docs/SECURITY.md "Running it securely", followed literally: the
 * certificates made by the doc's own `scripts/dev-certs.sh` command, the
 * policy file from the doc, the service started with the doc's variables,
 * and the doc's mTLS `buf curl` and `curl` commands run against it. Then
 * what the policy promises: the payments principal pays (user accounts and
 * fees), the minter mints, the auditor reads balances and events but is
 * refused a Transfer. README.md's "Running it securely" the same way.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SystemAccount } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { documentCommands, fencedBlocks, readRepoFile, REPO_ROOT, splitEnv } from "../support/doc-commands.js";
import { expectFailure, key } from "../support/ledger.js";
import { secureClients, startSecureServer, type SecureClients, type SecureServer } from "../support/secure.js";

const run = promisify(execFile);
const BUF = path.join(REPO_ROOT, "node_modules/.bin/buf");

const PAYMENTS = "spiffe://aevon/ns/payments/sa/payments-api";
const AUDITOR = "spiffe://aevon/ns/audit/sa/auditor";
const MINTER = "spiffe://aevon/ns/treasury/sa/minter";

interface Followed {
  /** Stands for the reader's checkout: `.data/certs` and `policy.json` are made here; `proto` is the repository's. */
  home: string;
  server: SecureServer;
  commands: string[][];
}

/** Does what `markdown` says, step by step: its dev-certs command, its policy saved as policy.json, the service with its variables. */
async function follow(markdown: string): Promise<Followed> {
  const commands = documentCommands(markdown);
  const home = mkdtempSync(path.join(tmpdir(), "ledger-doc-"));
  try {
    return { home, server: await startFollowing(markdown, commands, home), commands };
  } catch (error) {
    rmSync(home, { recursive: true, force: true });
    throw error;
  }
}

async function startFollowing(markdown: string, commands: string[][], home: string): Promise<SecureServer> {
  symlinkSync(path.join(REPO_ROOT, "proto"), path.join(home, "proto"));
  const devCerts = commands.find((c) => c[0] === "scripts/dev-certs.sh");
  expect(devCerts, "the document runs scripts/dev-certs.sh").toBeDefined();
  await run("bash", [path.join(REPO_ROOT, devCerts![0]!), ...devCerts!.slice(1)], { cwd: home });
  const policy = fencedBlocks(markdown, "json")[0];
  expect(policy, "the document shows a policy").toBeDefined();
  writeFileSync(path.join(home, "policy.json"), policy!);
  const serve = commands.map(splitEnv).find((c) => c.argv.join(" ") === "npm start" && "AUTHZ_POLICY_FILE" in c.env);
  expect(serve, "the document serves with a policy").toBeDefined();
  // Its files are relative to the reader's folder.
  const env = Object.fromEntries(Object.entries(serve!.env).map(([name, value]) => [name, name.endsWith("_FILE") ? path.resolve(home, value) : value]));
  expect(Object.keys(env).sort()).toEqual(["AUTHZ_POLICY_FILE", "TLS_CERT_FILE", "TLS_CLIENT_CA_FILE", "TLS_KEY_FILE"]);
  return startSecureServer(env);
}

async function unfollow(followed: Followed | undefined): Promise<void> {
  await followed?.server.close();
  if (followed) rmSync(followed.home, { recursive: true, force: true });
}

/** The document's mTLS commands: `npx buf curl` and `curl` with a client certificate. */
function mtlsCommands(commands: string[][]): string[][] {
  return commands.filter((c) => (c[0] === "curl" || (c[0] === "npx" && c[1] === "buf")) && c.some((w) => /\.data\/certs\/[\w-]+\.crt$/.test(w) && !w.endsWith("ca.crt")));
}

/** Clients with the certificate dev-certs made for a SPIFFE ID (named after its last segment). */
function clientsOf({ home, server }: Followed, spiffeId: string, port: "grpc" | "connect" = "grpc"): SecureClients {
  const certs = path.join(home, ".data/certs");
  const name = spiffeId.slice(spiffeId.lastIndexOf("/") + 1);
  return secureClients(
    server,
    { ca: readFileSync(path.join(certs, "ca.crt")), cert: readFileSync(path.join(certs, `${name}.crt`)), key: readFileSync(path.join(certs, `${name}.key`)) },
    port,
  );
}

/** Runs a command of the document from the reader's folder, against this server's ports; resolves with its exit code and output. */
async function runDocCommand(command: string[], { home, server }: Followed): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = command.map((w) => w.replace("localhost:50051", `localhost:${server.grpcPort}`).replace("localhost:8080", `localhost:${server.connectPort}`));
  const [file, args] = argv[0] === "npx" && argv[1] === "buf" ? [BUF, argv.slice(2)] : [argv[0]!, argv.slice(1)];
  try {
    const { stdout, stderr } = await run(file, args, { cwd: home });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("docs/SECURITY.md, followed literally", () => {
  let doc: Followed | undefined;
  beforeAll(async () => {
    doc = await follow(readRepoFile("docs/SECURITY.md"));
  });
  afterAll(() => unfollow(doc));
  const as = (spiffeId: string, port: "grpc" | "connect" = "grpc") => clientsOf(doc!, spiffeId, port);

  it("its mTLS buf curl and curl commands work against the service it describes (the auditor's refused)", async () => {
    const mtls = mtlsCommands(doc!.commands);
    expect(mtls.length).toBeGreaterThanOrEqual(4);
    for (const command of mtls) {
      const outcome = await runDocCommand(command, doc!);
      const line = command.join(" ");
      if (line.includes("auditor.crt")) {
        // Its rules do not name GetCurrency.
        expect(outcome.code, line).not.toBe(0);
        expect(JSON.parse(outcome.stderr), line).toMatchObject({ code: "permission_denied", message: `${AUDITOR} may not call /aevon.ledger.v1.LedgerService/GetCurrency` });
      } else {
        expect({ line, code: outcome.code, stderr: outcome.stderr }).toEqual({ line, code: 0, stderr: "" });
        if (line.includes("--list-services")) expect(outcome.stdout.split("\n")).toContain("aevon.ledger.v1.LedgerService");
        else expect(JSON.parse(outcome.stdout)).toEqual(expect.objectContaining(line.includes("GetCurrency") ? { currency: expect.objectContaining({ code: "USD" }) } : { currencies: expect.any(Array) }));
      }
    }
  });

  it("the payments principal pays from user accounts and fees, the minter mints; the auditor reads balances and events, and is refused a Transfer", async () => {
    const onboarding = as("spiffe://aevon/ns/identity/sa/onboarding");
    const payments = as(PAYMENTS);
    const user = async () =>
      (await onboarding.identity.createUser({ idempotencyKey: key("u"), handle: `doc_${Math.random().toString(36).slice(2, 10)}` })).user!.id;
    const walletOf = async (userId: string) => (await payments.ledger.listAccounts({ owner: { owner: { case: "userId", value: userId } } })).accounts[0]!;
    const [alice, bob] = [await walletOf(await user()), await walletOf(await user())];
    const system = async (role: SystemAccount) =>
      (await as(MINTER).ledger.listAccounts({ owner: { owner: { case: "system", value: role } }, currency: alice.currency })).accounts[0]!.id;
    const [issuance, fees] = [await system(SystemAccount.ISSUANCE), await system(SystemAccount.FEES)];

    // The minter mints; payments may not.
    await as(MINTER).ledger.transfer({ idempotencyKey: key("mint"), debitAccountId: issuance, creditAccountId: alice.id, amount: 10_000n });
    await expectFailure(payments.ledger.transfer({ idempotencyKey: key("mint"), debitAccountId: issuance, creditAccountId: alice.id, amount: 1n }), Code.PermissionDenied, "DEBIT_NOT_PERMITTED");
    // Payments pays between users, and out of fees.
    const { transfer } = await payments.ledger.transfer({ idempotencyKey: key("pay"), debitAccountId: alice.id, creditAccountId: bob.id, amount: 2_500n });
    await payments.ledger.transfer({ idempotencyKey: key("fee-refund"), debitAccountId: fees, creditAccountId: bob.id, amount: 10n });
    // ...but never reverses (the deny rule beats its allow rule).
    await expectFailure(payments.ledger.reverseTransfer({ idempotencyKey: key("r"), transferId: transfer!.id, amount: 1n }), Code.PermissionDenied, "PERMISSION_DENIED");

    for (const port of ["grpc", "connect"] as const) {
      const auditor = as(AUDITOR, port);
      expect((await auditor.ledger.getBalance({ accountId: bob.id })).balance?.posted).toBe(2_510n);
      expect((await auditor.ledger.getAccount({ accountId: alice.id })).account?.id).toBe(alice.id);
      const events = await auditor.audit.listEvents({ resourceType: "transfer", resourceId: transfer!.id });
      expect(events.events.map((e) => e.actor)).toEqual([PAYMENTS]);
      expect((await auditor.audit.verifyChain({})).ok).toBe(true);
      await auditor.audit.checkpoint({});
      const before = (await auditor.ledger.getBalance({ accountId: alice.id })).balance?.posted;
      await expectFailure(auditor.ledger.transfer({ idempotencyKey: key("t"), debitAccountId: alice.id, creditAccountId: bob.id, amount: 1n }), Code.PermissionDenied, "PERMISSION_DENIED");
      await expectFailure(auditor.ledger.listAccounts({ currency: alice.currency }), Code.PermissionDenied, "PERMISSION_DENIED");
      await expectFailure(auditor.identity.createUser({ idempotencyKey: key("u"), handle: `doc_${port}_aud` }), Code.PermissionDenied, "PERMISSION_DENIED");
      expect((await auditor.ledger.getBalance({ accountId: alice.id })).balance?.posted).toBe(before);
    }
    expect((await as(AUDITOR).ledger.getBalance({ accountId: alice.id })).balance?.posted).toBe(7_500n);
  });
});

describe("README.md \"Running it securely\", followed literally", () => {
  let readme: Followed | undefined;
  beforeAll(async () => {
    const text = readRepoFile("README.md");
    const start = text.indexOf("\n## Running it securely\n");
    expect(start).toBeGreaterThan(0);
    readme = await follow(text.slice(start, text.indexOf("\n## ", start + 1)));
  });
  afterAll(() => unfollow(readme));

  it("serves its principal what the section says: the ledger and debits of user accounts; not identities, not minting", async () => {
    const mtls = mtlsCommands(readme!.commands);
    expect(mtls).toHaveLength(1);
    const outcome = await runDocCommand(mtls[0]!, readme!);
    expect({ code: outcome.code, stderr: outcome.stderr }).toEqual({ code: 0, stderr: "" });
    expect(JSON.parse(outcome.stdout)).toMatchObject({ currency: { code: "USD" } });

    const payments = clientsOf(readme!, PAYMENTS);
    await expectFailure(payments.identity.createUser({ idempotencyKey: key("u"), handle: "readme_user" }), Code.PermissionDenied, "PERMISSION_DENIED");
    const system = async (role: SystemAccount) =>
      (await payments.ledger.listAccounts({ owner: { owner: { case: "system", value: role } }, currency: "USD" })).accounts[0]!.id;
    await expectFailure(
      payments.ledger.transfer({ idempotencyKey: key("mint"), debitAccountId: await system(SystemAccount.ISSUANCE), creditAccountId: await system(SystemAccount.FEES), amount: 1n }),
      Code.PermissionDenied,
      "DEBIT_NOT_PERMITTED",
    );
  });
});
