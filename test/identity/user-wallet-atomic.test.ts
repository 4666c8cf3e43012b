/**
 * A user and the wallet opened with it are one transaction: a failure
 * injected after the user row is written (here: PostgreSQL refusing the
 * wallet row) leaves neither.
 */
import { Code } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { expectFailure, identityClient, key, useLedgerServer } from "../support/ledger.js";

// New users' wallets are opened in XTS, a currency whose accounts the database refuses.
const ctx = useLedgerServer({ DEFAULT_WALLET_CURRENCY: "XTS" });

beforeAll(async () => {
  const sql = ctx.server.database.sql;
  await sql("INSERT INTO currencies (code, scale, name) VALUES ('XTS', 2, 'testing code')");
  await sql(`CREATE FUNCTION fail_xts_wallet() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      -- The user row is already written by an earlier statement of this transaction.
      IF NOT EXISTS (SELECT 1 FROM users WHERE id = NEW.owner_id::uuid) THEN
        RAISE EXCEPTION 'injection misfired: no user row yet';
      END IF;
      RAISE EXCEPTION 'injected failure after the user insert';
    END $$`);
  await sql("CREATE TRIGGER fail_xts_wallet BEFORE INSERT ON accounts FOR EACH ROW WHEN (NEW.currency_code = 'XTS') EXECUTE FUNCTION fail_xts_wallet()");
});

describe("CreateUser atomicity", () => {
  it("leaves neither the user nor the wallet when the wallet insert fails", async () => {
    const handle = `atomic_${Date.now()}`;
    const error = await expectFailure(identityClient(ctx.client).createUser({ idempotencyKey: key(), handle }), Code.Internal);
    expect(error.rawMessage).toBe("internal error");
    const users = await ctx.server.database.sql<{ n: number }>("SELECT count(*)::int AS n FROM users WHERE handle = $1", [handle]);
    const wallets = await ctx.server.database.sql<{ n: number }>("SELECT count(*)::int AS n FROM accounts WHERE currency_code = 'XTS'");
    const keys = await ctx.server.database.sql<{ n: number }>("SELECT count(*)::int AS n FROM idempotency_keys WHERE scope = 'identity.CreateUser'");
    const events = await ctx.server.database.sql<{ n: number }>("SELECT count(*)::int AS n FROM audit_events WHERE action = 'identity.user.create'");
    expect([users.rows[0]?.n, wallets.rows[0]?.n, keys.rows[0]?.n, events.rows[0]?.n]).toEqual([0, 0, 0, 0]);
  });
});
