/**
 * The model test's checks after a run, in SQL over what is stored (no
 * service code involved), plus the operator CLI's `verify-audit`:
 * per-currency totals, floors, balances against the replay of their entries
 * and against the reference model, keys executed at most once, refusals
 * never followed by execution, hold fates and expiries, and an audit chain
 * that verifies with one event per committed mutation.
 */
import { runCli } from "../cli.js";
import type { TestDatabase } from "../db.js";
import { until } from "../poll.js";
import type { OpRecord } from "./history.js";
import type { World } from "./ops.js";
import type { Run } from "./workload.js";

export type Report = (message: string, accounts?: string[], users?: string[]) => void;

const ids = (rows: { id: string }[]) => rows.map((r) => r.id);

/** Waits for the background jobs to finish the run's work: every hold released, every event sealed. */
export async function settle(db: TestDatabase, budgetMs = 20_000): Promise<void> {
  await until(async () => (await db.sql<{ n: number }>("SELECT count(*)::int AS n FROM holds WHERE status = 'PENDING'")).rows[0]!.n, (n) => n === 0, budgetMs, 100);
  await until(
    async () => (await db.sql<{ n: number }>("SELECT count(*)::int AS n FROM audit_events e WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_id = e.id)")).rows[0]!.n,
    (n) => n === 0,
    budgetMs,
    100,
  );
}

/** The ledger's own invariants (no model needed). */
export async function checkBooks(db: TestDatabase, report: Report): Promise<void> {
  const totals = await db.sql<{ currency_code: string; total: string }>("SELECT currency_code, sum(posted)::text AS total FROM accounts GROUP BY 1 HAVING sum(posted) <> 0");
  for (const r of totals.rows) report(`currency ${r.currency_code}: balances sum to ${r.total}, not 0`);
  const floors = await db.sql<{ id: string }>("SELECT id FROM accounts WHERE min_balance IS NOT NULL AND posted - pending_debit < min_balance");
  for (const id of ids(floors.rows)) report(`account ${id}: available balance below its floor`, [id]);
  const history = await db.sql<{ id: string }>(
    "SELECT DISTINCT e.account_id AS id FROM entries e JOIN accounts a ON a.id = e.account_id WHERE a.min_balance IS NOT NULL AND e.balance_after < a.min_balance",
  );
  for (const id of ids(history.rows)) report(`account ${id}: an entry left it below its floor`, [id]);
  const replay = await db.sql<{ id: string }>(`
    SELECT a.id FROM accounts a
    LEFT JOIN (SELECT account_id, sum(amount) AS total, count(*) AS n, max(account_version) AS top FROM entries GROUP BY account_id) e ON e.account_id = a.id
    LEFT JOIN LATERAL (SELECT balance_after FROM entries WHERE account_id = a.id ORDER BY id DESC LIMIT 1) last ON true
    WHERE a.posted <> coalesce(e.total, 0) OR a.version <> coalesce(e.n, 0) OR a.version <> coalesce(e.top, 0)
       OR coalesce(last.balance_after, 0) <> a.posted`);
  for (const id of ids(replay.rows)) report(`account ${id}: posted balance differs from the replay of its entries`, [id]);
  const transfers = await db.sql<{ id: string; debit: string; credit: string }>(`
    SELECT t.id, t.debit_account_id AS debit, t.credit_account_id AS credit FROM transfers t LEFT JOIN entries e ON e.transfer_id = t.id
    GROUP BY t.id HAVING count(e.id) <> 2 OR sum(e.amount) <> 0 OR sum(e.amount) FILTER (WHERE e.account_id = t.credit_account_id) <> t.amount`);
  for (const r of transfers.rows) report(`transfer ${r.id}: its entries do not match it`, [r.debit, r.credit]);
  const pending = await db.sql<{ id: string }>(`
    SELECT a.id FROM accounts a
    LEFT JOIN (SELECT debit_account_id AS id, sum(amount) AS s FROM holds WHERE status = 'PENDING' GROUP BY 1) d ON d.id = a.id
    LEFT JOIN (SELECT credit_account_id AS id, sum(amount) AS s FROM holds WHERE status = 'PENDING' GROUP BY 1) c ON c.id = a.id
    WHERE a.pending_debit <> coalesce(d.s, 0) OR a.pending_credit <> coalesce(c.s, 0)`);
  for (const id of ids(pending.rows)) report(`account ${id}: pending amounts differ from its pending holds`, [id]);
}

/** Balances against the model, keys against their outcomes, holds against their fates. */
export async function checkAgainstModel(db: TestDatabase, run: Run, world: World, before: Map<string, bigint>, prefix: string, report: Report): Promise<void> {
  const unresolved = run.ops.filter((op) => op.final === undefined);
  const uncertain = new Set(unresolved.flatMap((op) => op.accounts));
  const accounts = [...world.accounts.map((a) => a.id), ...world.issuance.values()];
  const now = await db.sql<{ id: string; posted: string }>("SELECT id, posted::text FROM accounts WHERE id = ANY($1::uuid[])", [accounts]);
  const deltas = run.model.postedDeltas();
  for (const r of now.rows) {
    if (uncertain.has(r.id)) continue;
    const predicted = (before.get(r.id) ?? 0n) + (deltas.get(r.id) ?? 0n);
    if (BigInt(r.posted) !== predicted) report(`account ${r.id}: posted ${r.posted}, the acknowledged operations predict ${predicted}`, [r.id]);
  }

  // Keys: audit events, transfers and holds per key of this run.
  const countBy = async (sql: string) => {
    const { rows } = await db.sql<{ key: string; n: number }>(sql, [`${prefix}-%`]);
    return new Map(rows.map((r) => [r.key, r.n]));
  };
  const events = await countBy("SELECT idempotency_key AS key, count(*)::int AS n FROM audit_events WHERE idempotency_key LIKE $1 GROUP BY 1");
  const transfers = await countBy("SELECT split_part(idempotency_key, '#', 1) AS key, count(*)::int AS n FROM transfers WHERE idempotency_key LIKE $1 GROUP BY 1");
  const holds = await countBy("SELECT idempotency_key AS key, count(*)::int AS n FROM holds WHERE idempotency_key LIKE $1 GROUP BY 1");
  const byKey = new Map<string, OpRecord>(run.ops.map((op) => [op.key, op]));
  for (const [key, n] of events) {
    if (!byKey.has(key)) report(`audit events carry key ${key}, which no operation used`);
    else if (n > 1) report(`key ${key}: ${n} audit events: executed more than once`, byKey.get(key)!.accounts, byKey.get(key)!.users);
  }
  for (const op of run.ops) {
    const e = events.get(op.key) ?? 0;
    const t = transfers.get(op.key) ?? 0;
    const h = holds.get(op.key) ?? 0;
    const legs = op.kind === "batch" ? op.summary.split(", ").length : 1;
    if (op.final?.ok) {
      if (e !== 1) report(`key ${op.key} (${op.kind}) succeeded but has ${e} audit events`, op.accounts, op.users);
      if ((op.kind === "transfer" || op.kind === "fund" || op.kind === "batch") && t !== legs) report(`key ${op.key}: ${t} transfers stored, ${legs} expected`, op.accounts);
      if (op.kind === "holdCreate" && h !== 1) report(`key ${op.key}: ${h} holds stored, 1 expected`, op.accounts);
    } else if (op.final) {
      if (e + t + h > 0) report(`key ${op.key} (${op.kind}) was refused (${op.final.reason}) yet executed: ${e} events, ${t} transfers, ${h} holds`, op.accounts, op.users);
    } else if (t > legs || h > 1) {
      report(`key ${op.key} (unresolved) executed more than once`, op.accounts);
    }
  }

  // Holds: the acknowledged fate, else expired; exactly one expiry event per expired hold.
  const stored = await db.sql<{ id: string; status: string; expiries: number }>(`
    SELECT h.id, h.status::text AS status, count(e.id)::int AS expiries FROM holds h
    LEFT JOIN audit_events e ON e.action = 'ledger.hold.expire' AND e.resource_type = 'hold' AND e.resource_id = h.id::text
    GROUP BY h.id`);
  for (const r of stored.rows) {
    const m = run.model.holds.get(r.id);
    if (r.expiries !== (r.status === "EXPIRED" ? 1 : 0)) report(`hold ${r.id} (${r.status}) has ${r.expiries} expiry events`, m ? [m.debit, m.credit] : []);
    if (!m || uncertain.has(m.debit) || uncertain.has(m.credit)) continue;
    const expected = m.fate === "captured" ? "CAPTURED" : m.fate === "voided" ? "VOIDED" : "EXPIRED";
    if (r.status !== expected) report(`hold ${r.id}: ${r.status}, the acknowledged answers say ${expected}`, [m.debit, m.credit]);
  }
}

/** The audit chain: all sealed, one chain (no fork, no gap), verified by the operator CLI; keyless events are hold expiries only. */
export async function checkAudit(db: TestDatabase, firstEventId: bigint, report: Report): Promise<{ events: number; seals: number }> {
  const keyless = await db.sql<{ action: string; n: number }>("SELECT action, count(*)::int AS n FROM audit_events WHERE idempotency_key IS NULL AND id >= $1 GROUP BY 1", [
    firstEventId.toString(),
  ]);
  for (const r of keyless.rows) if (r.action !== "ledger.hold.expire") report(`${r.n} audit events ${r.action} without an idempotency key`);
  const counts = await db.sql<{ events: number; seals: number; top: string | null; bottom: string | null }>(
    "SELECT (SELECT count(*)::int FROM audit_events) AS events, count(*)::int AS seals, max(seq)::text AS top, min(seq)::text AS bottom FROM audit_seals",
  );
  const c = counts.rows[0]!;
  if (c.events !== c.seals) report(`${c.events} audit events but ${c.seals} seals`);
  if (c.seals > 0 && (c.bottom !== "1" || c.top !== String(c.seals))) report(`seal sequence is not 1..${c.seals}: ${c.bottom}..${c.top}`);
  const forks = await db.sql<{ seq: string }>("SELECT s.seq::text FROM audit_seals s JOIN audit_seals p ON p.seq = s.seq - 1 WHERE s.prev_hash <> p.hash");
  for (const r of forks.rows) report(`seal ${r.seq} does not chain on seal ${BigInt(r.seq) - 1n}: a fork`);
  const doubled = await db.sql<{ event_id: string }>("SELECT event_id::text FROM audit_seals GROUP BY event_id HAVING count(*) > 1");
  for (const r of doubled.rows) report(`event ${r.event_id} sealed twice`);
  const cli = await runCli(["verify-audit"], { DATABASE_URL: db.url });
  if (cli.code !== 0) report(`verify-audit exited ${cli.code}: ${cli.stdout} ${cli.stderr}`);
  return { events: c.events, seals: c.seals };
}
