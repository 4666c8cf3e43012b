/** What must hold is enforced by PostgreSQL itself, whatever code (or person) writes SQL. */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fundedAccount, key, ledgerClient, userAccount, type LedgerClient } from "../support/ledger.js";
import { startTestServer, type TestServer } from "../support/server.js";

let server: TestServer;
let client: LedgerClient;
beforeAll(async () => {
  server = await startTestServer();
  client = ledgerClient(server);
});
afterAll(async () => {
  await server?.close();
});

async function sqlError(text: string, values?: unknown[]): Promise<string> {
  try {
    await server.database.sql(text, values);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`expected SQL to fail: ${text}`);
}

describe("database-enforced invariants", () => {
  it("refuses an overdraft written directly in SQL (CHECK on posted - pending)", async () => {
    const a = await fundedAccount(client, 10n);
    expect(await sqlError("UPDATE accounts SET posted = -1 WHERE id = $1", [a.id])).toMatch(/accounts_available_within_policy/);
    expect(await sqlError("UPDATE accounts SET pending_debit = 11 WHERE id = $1", [a.id])).toMatch(/accounts_available_within_policy/);
  });

  it("keeps the journal append-only", async () => {
    const a = await fundedAccount(client, 10n);
    const b = await userAccount(client);
    const { transfer } = await client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 5n });
    expect(await sqlError("UPDATE entries SET amount = 500 WHERE transfer_id = $1", [transfer!.id])).toMatch(/append-only/);
    expect(await sqlError("DELETE FROM entries WHERE transfer_id = $1", [transfer!.id])).toMatch(/append-only/);
    expect(await sqlError("TRUNCATE entries CASCADE")).toMatch(/append-only/);
    expect(await sqlError("UPDATE transfers SET amount = 500 WHERE id = $1", [transfer!.id])).toMatch(/immutable/);
    expect(await sqlError("DELETE FROM transfers WHERE id = $1", [transfer!.id])).toMatch(/append-only/);
  });

  it("rejects malformed rows: non-positive transfers, self-transfers, over-reversal, closed-with-balance", async () => {
    const a = await fundedAccount(client, 10n);
    const b = await userAccount(client);
    const insert = (amount: number, debit: string, credit: string) =>
      sqlError(
        "INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, currency_code, amount, created_at) VALUES ($1, 'TRANSFER', $2, $3, 'USD', $4, now())",
        [randomUUID(), debit, credit, amount],
      );
    expect(await insert(0, a.id, b.id)).toMatch(/transfers_amount_positive/);
    expect(await insert(5, a.id, a.id)).toMatch(/transfers_distinct_accounts/);
    const { transfer } = await client.transfer({ idempotencyKey: key(), debitAccountId: a.id, creditAccountId: b.id, amount: 5n });
    expect(await sqlError("UPDATE transfers SET reversed_amount = 6 WHERE id = $1", [transfer!.id])).toMatch(/transfers_reversed_within_amount/);
    expect(await sqlError("UPDATE accounts SET status = 'CLOSED' WHERE id = $1", [a.id])).toMatch(/accounts_closed_is_empty/);
  });
});
