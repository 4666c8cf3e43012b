/**
 * Baseline: the service's own double-entry transfer written by hand over a
 * bare `pg` pool (from bench/transfers.ts), on the service's tables but a
 * separate set of funded wallets, prepared statements, `concurrency`
 * transfers in flight, one pooled connection each (pgbench-style):
 *
 *   BEGIN
 *   UPDATE accounts SET posted = posted - $2, version = version + 1 … RETURNING posted, version   \ in account-id
 *   UPDATE accounts SET posted = posted + $2, version = version + 1 … RETURNING posted, version   / order: no deadlocks
 *   INSERT INTO transfers (…)
 *   INSERT INTO entries (…) VALUES (debit…), (credit…)
 *   COMMIT
 *
 * No idempotency record, no audit event, no transport: what the service adds
 * on top of this is what the ratio shows. The funds check is the table's
 * CHECK constraint. This one baseline knows the schema; if the schema moves
 * on, it fails with the SQL error in the report and the rest runs on.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import type { Op } from "../load.js";

const SQL = {
  debit: `UPDATE accounts SET posted = posted - $2, version = version + 1, updated_at = now()
          WHERE id = $1 AND status = 'ACTIVE' RETURNING posted, version`,
  credit: `UPDATE accounts SET posted = posted + $2, version = version + 1, updated_at = now()
           WHERE id = $1 AND status = 'ACTIVE' RETURNING posted, version`,
  transfer: `INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, currency_code, amount, idempotency_key, created_at)
             VALUES ($1, 'TRANSFER', $2, $3, $4, $5, $6, now())`,
  entries: `INSERT INTO entries (transfer_id, account_id, amount, balance_after, account_version, created_at)
            VALUES ($1, $2, $3, $4, $5, now()), ($1, $6, $7, $8, $9, now())`,
};

/** A time-ordered UUID (version 7), as the service makes transfer ids. */
export function uuidv7(nowMs = Date.now()): string {
  const t = nowMs.toString(16).padStart(12, "0");
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${randomUUID().slice(15)}`;
}

export interface RawSql {
  op: Op;
  close(): Promise<void>;
}

/**
 * A pool of `connections` and the transfer operation over `accounts`
 * (`hot`: the debit is always accounts[0]). Runs one checked transfer first.
 */
export async function openRawSql(url: string, accounts: string[], options: { connections: number; hot: boolean }): Promise<RawSql> {
  const pool = new pg.Pool({ connectionString: url, max: options.connections, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 30_000 });
  pool.on("error", () => undefined); // an idle client dying is reported by the next query
  let seq = 0;
  const tag = randomUUID().slice(0, 8);
  const { rows } = await pool.query<{ currency_code: string }>("SELECT currency_code FROM accounts WHERE id = $1", [accounts[0]]);
  const currency = rows[0]?.currency_code;
  if (!currency) throw new Error("raw SQL: the fixture's first account is not in the accounts table");

  const pair = (): [string, string] => {
    if (options.hot) return [accounts[0]!, accounts[1 + Math.floor(Math.random() * (accounts.length - 1))]!];
    const i = Math.floor(Math.random() * accounts.length);
    let j = Math.floor(Math.random() * (accounts.length - 1));
    if (j >= i) j++;
    return [accounts[i]!, accounts[j]!];
  };

  const transferOnce = async () => {
    const [debit, credit] = pair();
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      type Row = { posted: string; version: string };
      const update = (name: "debit" | "credit", id: string) => client.query<Row>({ name, text: SQL[name], values: [id, "1"] });
      let d: pg.QueryResult<Row>, c: pg.QueryResult<Row>;
      if (debit < credit) {
        d = await update("debit", debit);
        c = await update("credit", credit);
      } else {
        c = await update("credit", credit);
        d = await update("debit", debit);
      }
      if (d.rowCount !== 1 || c.rowCount !== 1) throw Object.assign(new Error("account missing or not active"), { code: "NOROW" });
      const id = uuidv7();
      await client.query({ name: "transfer", text: SQL.transfer, values: [id, debit, credit, currency, "1", `bench-raw-${tag}-${++seq}`] });
      await client.query({
        name: "entries",
        text: SQL.entries,
        values: [id, debit, "-1", d.rows[0]!.posted, d.rows[0]!.version, credit, "1", c.rows[0]!.posted, c.rows[0]!.version],
      });
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  };

  try {
    await transferOnce(); // checks the statements before any clock starts
  } catch (error) {
    await pool.end();
    throw new Error(`raw SQL baseline: ${(error as Error).message}`);
  }
  return {
    op: (_ctx, done) => {
      transferOnce().then(
        () => done("OK"),
        (e: { code?: string; message?: string }) => done(`SQLSTATE ${e.code ?? "?"}`, e.message),
      );
    },
    close: () => pool.end(),
  };
}
