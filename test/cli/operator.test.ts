/**
 * The operator CLI's other commands and its exit codes, as child processes:
 * create-currency (the service then serves the currency and its system
 * accounts; idempotent; audited; Accelerate's cached lists forgotten),
 * migrate status|deploy, usage errors (2), an unreachable or missing
 * database (3), and the help.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SystemAccount } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { startQueryPlanExecutor } from "../support/accelerate.js";
import { CLI_PATH, runCli } from "../support/cli.js";
import { createEmptyDatabase } from "../support/db.js";
import { REPO_ROOT } from "../support/doc-commands.js";
import { key, ledgerClient, userAccount, type LedgerClient } from "../support/ledger.js";
import { startTestServer, type TestServer } from "../support/server.js";

let server: TestServer;
let client: LedgerClient;

beforeAll(async () => {
  server = await startTestServer({}, undefined, "direct");
  client = ledgerClient(server);
});
afterAll(async () => {
  await server?.close();
});

const owner = () => ({ MIGRATION_DATABASE_URL: server.database.url });
const currencyEvents = async (code: string) =>
  Number((await server.database.sql(`SELECT count(*) AS n FROM audit_events WHERE action = 'ledger.currency.create' AND resource_id = '${code}'`)).rows[0]!.n);

describe("create-currency", () => {
  it("adds a currency the service then serves, with its four system accounts, and money moves in it", async () => {
    const run = await runCli(["create-currency", "GBP", "--exponent", "2", "--name", "Pound sterling"], owner());
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^created currency GBP \(exponent 2\); system accounts: issuance [0-9a-f-]{36}, treasury .*, fees .*, external_settlement .*\n$/);

    expect((await client.getCurrency({ code: "GBP" })).currency).toMatchObject({ code: "GBP", scale: 2, name: "Pound sterling" });
    const issuance = (await client.listAccounts({ owner: { owner: { case: "system", value: SystemAccount.ISSUANCE } }, currency: "GBP" })).accounts;
    expect(issuance).toHaveLength(1);
    // The same ids the migrations give the seeded currencies' system accounts.
    const { rows } = await server.database.sql("SELECT md5('system:issuance:GBP')::uuid::text AS id");
    expect(issuance[0]!.id).toBe(rows[0]!.id);
    expect(await currencyEvents("GBP")).toBe(1);

    const wallet = await userAccount(client, { currency: "GBP" });
    await client.transfer({ idempotencyKey: key("gbp"), debitAccountId: issuance[0]!.id, creditAccountId: wallet.id, amount: 1_250n });
    expect((await runCli(["reconcile"], { DATABASE_URL: server.database.url })).stdout).toContain("4 currencies: consistent");
  });

  it("is idempotent: the same currency again changes nothing; another exponent is refused with exit 1", async () => {
    const first = await runCli(["create-currency", "JPY", "--exponent", "0"], owner());
    expect(first.code).toBe(0);
    const again = await runCli(["create-currency", "JPY", "--exponent", "0"], owner());
    expect(again).toMatchObject({ code: 0, stdout: "currency JPY exists with exponent 0 and its system accounts: nothing to do\n" });
    const other = await runCli(["create-currency", "JPY", "--exponent", "2"], owner());
    expect(other).toMatchObject({ code: 1, stdout: "currency JPY exists with exponent 0, not 2: nothing changed (an exponent never changes)\n" });
    const { rows } = await server.database.sql("SELECT (SELECT count(*) FROM currencies WHERE code = 'JPY')::int AS currencies, (SELECT count(*) FROM accounts WHERE currency_code = 'JPY')::int AS accounts, (SELECT scale FROM currencies WHERE code = 'JPY') AS scale");
    expect(rows[0]).toEqual({ currencies: 1, accounts: 4, scale: 0 });
    expect(await currencyEvents("JPY")).toBe(1);
  });

  it("refuses a malformed code or exponent with exit 2, naming it, and writes nothing", async () => {
    for (const [args, named] of [
      [["create-currency", "gbp", "--exponent", "2"], "CODE"],
      [["create-currency", "CHF", "--exponent", "19"], "--exponent"],
      [["create-currency", "CHF"], "--exponent"],
      [["create-currency", "CHF", "--exponent", "2", "--name", ""], "--name"],
    ] as const) {
      const run = await runCli([...args], owner());
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toContain(named);
    }
    expect((await server.database.sql("SELECT count(*)::int AS n FROM currencies WHERE code = 'CHF'")).rows[0]!.n).toBe(0);
  });

  it("with the service on Accelerate, makes it forget the cached currency lists", async () => {
    const executor = await startQueryPlanExecutor(server.database.url);
    try {
      const run = await runCli(["create-currency", "SEK", "--exponent", "2"], { DATABASE_URL: executor.url, MIGRATION_DATABASE_URL: server.database.url });
      expect(run.code).toBe(0);
      expect(run.stdout).toContain("forgot the cached currency lists (Accelerate)");
      expect(executor.invalidations).toEqual([["currencies"]]);
      // Reads never go through Accelerate: without a direct URL they are refused as a usage error.
      const read = await runCli(["reconcile"], { DATABASE_URL: executor.url });
      expect(read.code).toBe(2);
      expect(read.stderr).toContain("set DIRECT_DATABASE_URL");
    } finally {
      await executor.stop();
    }
  });
});

describe("migrate", () => {
  it("status lists pending migrations with exit 1; deploy applies them; status is then 0", async () => {
    const empty = await createEmptyDatabase();
    try {
      const env = { MIGRATION_DATABASE_URL: empty.url };
      const before = await runCli(["migrate", "status"], env);
      expect(before.code).toBe(1);
      expect(before.stdout).toMatch(/^Pending:\n {2}\d+_init\n/);
      const deploy = await runCli(["migrate", "deploy"], env);
      expect(deploy.code).toBe(0);
      expect(deploy.stdout).toMatch(/^Applied:\n {2}\d+_init\n/);
      expect(await runCli(["migrate", "status"], env)).toMatchObject({ code: 0, stdout: "Database is up to date.\n" });
    } finally {
      await empty.drop();
    }
  });
});

describe("exit codes", () => {
  const db = () => ({ DATABASE_URL: server.database.url });

  it("2 for a usage error, saying what is wrong", async () => {
    for (const [args, says] of [
      [[], "usage: ledger-of-record <command>"],
      [["frobnicate"], 'unknown command "frobnicate"'],
      [["reconcile", "--bogus"], "--bogus"],
      [["reconcile", "--batch-size", "0"], "--batch-size: must be a whole number from 1 to 5000"],
      [["reconcile", "extra"], 'unexpected argument "extra"'],
      [["verify-audit", "--from", "x"], "--from"],
      [["migrate", "sideways"], "migrate: expected deploy or status"],
      [["export-checkpoint", "--key", "/nonexistent/key.pem"], "--key /nonexistent/key.pem"],
    ] as const) {
      const run = await runCli([...args], db());
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toContain(says);
    }
  });

  it("2 without DATABASE_URL: the CLI needs the ledger's database (only migrate starts the embedded one)", async () => {
    const run = await runCli(["verify-audit"], {});
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("DATABASE_URL is not set");
  });

  it("3 when the database cannot be reached or does not exist, whatever the command", async () => {
    const unreachable = "postgresql://postgres@127.0.0.1:1/ledger";
    const missing = new URL(server.database.url);
    missing.pathname = "/lor_cli_no_such_database";
    for (const [args, env] of [
      [["reconcile"], { DATABASE_URL: unreachable }],
      [["verify-audit"], { DATABASE_URL: unreachable }],
      [["export-checkpoint"], { DATABASE_URL: missing.toString() }],
      [["create-currency", "NOK", "--exponent", "2"], { MIGRATION_DATABASE_URL: unreachable }],
      [["migrate", "status"], { MIGRATION_DATABASE_URL: unreachable }],
    ] as const) {
      const run = await runCli([...args], env);
      expect({ args, code: run.code }).toEqual({ args, code: 3 });
      expect(run.stderr).toMatch(/^ledger-of-record: (cannot reach the database|could not complete): \S/);
      expect(run.stderr).not.toContain("postgresql://");
    }
  });

  it("0 for help, on stdout, with the exit codes; the bin is the compiled file, runnable as is", async () => {
    const help = await runCli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("exit codes:\n  0  done; nothing inconsistent\n  1  done; an inconsistency was found");
    for (const command of ["migrate", "verify-audit", "reconcile", "export-checkpoint", "create-currency"]) {
      const run = await runCli([command, "--help"]);
      expect({ command, code: run.code }).toEqual({ command, code: 0 });
      expect(run.stdout).toContain(`usage: ledger-of-record ${command}`);
    }
    expect(path.relative(REPO_ROOT, CLI_PATH)).toBe(path.join("dist", "src", "cli", "main.js"));
    expect(readFileSync(CLI_PATH, "utf8").startsWith("#!/usr/bin/env node\n")).toBe(true);
  });
});
