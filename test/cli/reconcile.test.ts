/**
 * `ledger-of-record reconcile`, run as a child process against the ledger a
 * real service wrote (transfers, holds pending and captured, a reversal):
 * consistent → exit 0 having read every account and entry, in pages of any
 * size; each kind of tampering, injected with SQL as the tables' owner →
 * exit 1 naming the account. Entries are append-only (a trigger), so the
 * test that removes one disables triggers for its own transaction
 * (`SET LOCAL session_replication_role = replica`, as the superuser).
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readOnly } from "../../src/cli/connect.js";
import type { Account } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { runCli, type CliRun } from "../support/cli.js";
import { fundedAccount, key, ledgerClient, userAccount, type LedgerClient } from "../support/ledger.js";
import { startTestServer, type TestServer } from "../support/server.js";

let server: TestServer;
let client: LedgerClient;
let rich: Account;
let busy: Account;
let payee: Account;

beforeAll(async () => {
  server = await startTestServer({}, undefined, "direct");
  client = ledgerClient(server);
  rich = await fundedAccount(client, 10_000n);
  busy = await fundedAccount(client, 5_000n);
  payee = await userAccount(client);
  await fundedAccount(client, 700n, "EUR");
  for (const amount of [100n, 200n, 300n]) {
    await client.transfer({ idempotencyKey: key("t"), debitAccountId: rich.id, creditAccountId: busy.id, amount });
  }
  const paid = await client.transfer({ idempotencyKey: key("t"), debitAccountId: busy.id, creditAccountId: payee.id, amount: 50n });
  await client.reverseTransfer({ idempotencyKey: key("r"), transferId: paid.transfer!.id, amount: 20n });
  await client.createHold({ idempotencyKey: key("h"), debitAccountId: rich.id, creditAccountId: payee.id, amount: 300n });
  const { hold } = await client.createHold({ idempotencyKey: key("h"), debitAccountId: busy.id, creditAccountId: payee.id, amount: 200n });
  await client.captureHold({ idempotencyKey: key("c"), holdId: hold!.id, amount: 120n });
});
afterAll(async () => {
  await server?.close();
});

const reconcile = (...args: string[]) => runCli(["reconcile", ...args], { DATABASE_URL: server.database.url });
const sql = (text: string) => server.database.sql(text);

function jsonLines(run: CliRun) {
  const lines = run.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
  return { differences: lines.filter((l) => !("summary" in l)), summary: lines.find((l) => "summary" in l)?.summary as Record<string, unknown> };
}

async function counts() {
  const { rows } = await sql("SELECT (SELECT count(*) FROM accounts)::text AS accounts, (SELECT count(*) FROM entries)::text AS entries");
  return rows[0] as { accounts: string; entries: string };
}

describe("reconcile", () => {
  it("finds a ledger the service wrote consistent, having read every account and every entry", async () => {
    const run = await reconcile("--json");
    expect(run.stderr).not.toContain("ledger-of-record:");
    expect(run.code).toBe(0);
    const { differences, summary } = jsonLines(run);
    expect(differences).toEqual([]);
    const expected = await counts();
    expect(Number(expected.entries)).toBeGreaterThan(10);
    expect(summary).toEqual({ accounts: expected.accounts, entries: expected.entries, currencies: 3, differences: 0 });

    const text = await reconcile();
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`reconcile: ${expected.accounts} accounts, ${expected.entries} entries, 3 currencies: consistent`);
  });

  it("reaches the same verdict in pages of one account and chunks of one entry", async () => {
    const expected = await counts();
    for (const sizes of [["--batch-size", "1", "--entries-batch-size", "1"], ["--batch-size", "2", "--entries-batch-size", "3"]]) {
      const run = await reconcile("--json", ...sizes);
      expect(run.code).toBe(0);
      expect(jsonLines(run).summary).toMatchObject({ accounts: expected.accounts, entries: expected.entries, differences: 0 });
    }
  });

  it("reports a balance changed behind the journal's back, naming the account, and the currency's total", async () => {
    const { rows } = await sql(`SELECT posted::text FROM accounts WHERE id = '${rich.id}'`);
    const posted = BigInt(rows[0]!.posted as string);
    await sql(`UPDATE accounts SET posted = posted + 1 WHERE id = '${rich.id}'`);
    try {
      const run = await reconcile();
      expect(run.code).toBe(1);
      expect(run.stdout).toContain(`account ${rich.id} (USD): posted is ${posted + 1n}, its entries sum to ${posted}`);
      expect(run.stdout).toContain("currency USD: account balances sum to 1, not 0");
      expect(run.stdout).toContain("2 differences");
      const json = jsonLines(await reconcile("--json", "--batch-size", "1"));
      expect(json.differences.map((d) => [d.kind, d.account_id])).toEqual([
        ["posted", rich.id],
        ["currency_total", null],
      ]);
    } finally {
      await sql(`UPDATE accounts SET posted = posted - 1 WHERE id = '${rich.id}'`);
    }
    expect((await reconcile()).code).toBe(0);
  });

  it("reports an entry removed from the middle of an account's history: the missing version and the balance", async () => {
    const { rows } = await sql(`SELECT * FROM entries WHERE account_id = '${busy.id}' AND account_version = 2`);
    const removed = rows[0]!;
    const { rows: versions } = await sql(`SELECT version::text FROM accounts WHERE id = '${busy.id}'`);
    expect(Number(versions[0]!.version)).toBeGreaterThan(3);
    // The journal is append-only: only with triggers off (replica role, this transaction only) can a row go.
    await sql(`BEGIN; SET LOCAL session_replication_role = replica; DELETE FROM entries WHERE id = ${removed.id}; COMMIT;`);
    try {
      // In one chunk, and in chunks of one entry (the entry before the gap read by another statement).
      for (const sizes of [[], ["--entries-batch-size", "1"]]) {
        const run = await reconcile(...sizes);
        expect(run.code).toBe(1);
        expect(run.stdout).toContain(`account ${busy.id} (USD): entry version 2 is missing`);
        expect(run.stdout).toMatch(new RegExp(`account ${busy.id} \\(USD\\): posted is \\d+, its entries sum to \\d+`));
        expect(run.stdout).toContain(`currency USD: entries sum to ${-BigInt(removed.amount as string)}, not 0`);
      }
    } finally {
      await sql(
        `INSERT INTO entries (id, transfer_id, account_id, amount, balance_after, account_version, created_at)
         VALUES (${removed.id}, '${removed.transfer_id}', '${removed.account_id}', ${removed.amount}, ${removed.balance_after}, 2, '${(removed.created_at as Date).toISOString()}')`,
      );
    }
    expect((await reconcile("--entries-batch-size", "1")).code).toBe(0);
  });

  it("reports an entry whose balance_after does not follow from the one before, by version", async () => {
    const change = (delta: number) =>
      sql(`BEGIN; SET LOCAL session_replication_role = replica;
           UPDATE entries SET balance_after = balance_after + ${delta} WHERE account_id = '${busy.id}' AND account_version = 4; COMMIT;`);
    await change(1);
    try {
      for (const sizes of [[], ["--entries-batch-size", "1"]]) {
        const run = await reconcile("--json", ...sizes);
        expect(run.code).toBe(1);
        expect(jsonLines(run).differences).toEqual([
          {
            kind: "balance_after",
            account_id: busy.id,
            currency: "USD",
            stored: "4",
            expected: "the previous balance_after plus the amount",
            message: `account ${busy.id} (USD): entry version 4: balance_after is not the previous entry's balance_after plus its amount`,
          },
        ]);
      }
    } finally {
      await change(-1);
    }
  });

  it("reports pending amounts no hold reserves, and an account version its entries do not reach", async () => {
    await sql(`UPDATE accounts SET pending_credit = pending_credit + 7, version = version + 1 WHERE id = '${payee.id}'`);
    try {
      const run = await reconcile("--json", "--batch-size", "1");
      expect(run.code).toBe(1);
      const found = jsonLines(run).differences.map((d) => ({ kind: d.kind, account: d.account_id, stored: d.stored, expected: d.expected }));
      const { rows } = await sql(`SELECT pending_credit::text, version::text FROM accounts WHERE id = '${payee.id}'`);
      expect(found).toEqual([
        { kind: "version", account: payee.id, stored: rows[0]!.version, expected: String(Number(rows[0]!.version) - 1) },
        { kind: "pending_credit", account: payee.id, stored: rows[0]!.pending_credit, expected: "300" },
        { kind: "currency_pending", account: null, stored: "300", expected: "307" },
      ]);
    } finally {
      await sql(`UPDATE accounts SET pending_credit = pending_credit - 7, version = version - 1 WHERE id = '${payee.id}'`);
    }
  });

  it("reports pending holds that name no account, ordered before and after every account", async () => {
    const ghosts = ["00000000-0000-4000-8000-000000000001", "ffffffff-ffff-4fff-bfff-ffffffffffff"];
    // A hold's accounts are foreign keys (triggers): off for this transaction only (replica role).
    await sql(`BEGIN; SET LOCAL session_replication_role = replica;
      INSERT INTO holds (id, debit_account_id, credit_account_id, currency_code, amount, status, expires_at, idempotency_key, created_at, updated_at)
      VALUES (gen_random_uuid(), '${ghosts[0]}', '${ghosts[1]}', 'USD', 9, 'PENDING', now() + interval '1 day', 'ghost-hold', now(), now());
      COMMIT;`);
    try {
      for (const size of ["1", "500"]) {
        const run = await reconcile("--json", "--batch-size", size);
        expect(run.code).toBe(1);
        expect(jsonLines(run).differences.map((d) => [d.kind, d.account_id])).toEqual([
          ["holds_without_account", ghosts[0]],
          ["holds_without_account", ghosts[1]],
        ]);
      }
    } finally {
      await sql("DELETE FROM holds WHERE idempotency_key = 'ghost-hold'");
    }
  });

  it("needs no write privilege: a role that may only SELECT runs every read command", async () => {
    const role = `lor_cli_ro_${process.pid}`;
    await sql(`CREATE ROLE ${role} LOGIN PASSWORD '${role}'`);
    try {
      await sql(`GRANT CONNECT ON DATABASE ${server.database.name} TO ${role}; GRANT USAGE ON SCHEMA public TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
      const url = new URL(server.database.url);
      url.username = role;
      url.password = role;
      const env = { DATABASE_URL: url.toString() };
      expect(await runCli(["reconcile"], env)).toMatchObject({ code: 0 });
      expect(await runCli(["verify-audit"], env)).toMatchObject({ code: 0 });
      expect(await runCli(["export-checkpoint"], env)).toMatchObject({ code: 0 });
    } finally {
      await sql(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
    }
  });

  it("reads in read-only sessions, even as the tables' owner", async () => {
    const client = new pg.Client({ connectionString: readOnly(server.database.url) });
    await client.connect();
    try {
      await expect(client.query("INSERT INTO currencies (code, scale, name) VALUES ('ROX', 2, 'read-only')")).rejects.toMatchObject({ code: "25006" });
    } finally {
      await client.end();
    }
  });
});
