/**
 * `reconcile`: recomputes every account from its journal and its holds, in
 * one snapshot, and reports every difference:
 * - `posted` against the sum of the account's entries;
 * - `version` against its entries' versions, which must run 1, 2, 3, …
 *   without gaps (the last one being `version`);
 * - each entry's `balance_after` against the previous one plus its amount;
 * - `pending_debit` / `pending_credit` against the account's PENDING holds;
 * - per currency: balances sum to zero, entries sum to zero, pending debits
 *   equal pending credits.
 * Memory is bounded by the page size (accounts), one chunk of folded entries
 * and one batch of hold sums; each statement reads its batch by index
 * (reconcile-sql.ts).
 */
import type { Db } from "../lib/prisma.js";
import type { TxClient } from "../store/transaction.js";
import type { Progress } from "./progress.js";
import {
  ACCOUNTS_ESTIMATE_SQL,
  DECLARE_HOLDS_CURSOR_SQL,
  ENTRY_CHUNK_SQL,
  fetchHoldsSql,
  FIRST_ACCOUNTS_SQL,
  NEXT_ACCOUNTS_SQL,
  type AccountRow,
  type EntryChunkRow,
  type HoldSumRow,
} from "./reconcile-sql.js";

/** Accounts per page, and pending-hold sums per fetch: default and bounds of `--batch-size`. */
export const BATCH_SIZE = { default: 500, min: 1, max: 5_000 } as const;
/** Entries folded per statement: default and bounds of `--entries-batch-size` (10,000 rows by index: well under a second here). */
export const ENTRIES_BATCH_SIZE = { default: 10_000, min: 1, max: 100_000 } as const;
/** Below every entry id: where a page's entries start. */
const BEFORE_ANY_ENTRY = "-9223372036854775808";

export type DifferenceKind =
  | "posted"
  | "version"
  | "version_gap"
  | "balance_after"
  | "pending_debit"
  | "pending_credit"
  | "holds_without_account"
  | "currency_total"
  | "currency_entries_total"
  | "currency_pending";

/** One thing that does not add up. Amounts and versions are decimal strings. */
export interface Difference {
  kind: DifferenceKind;
  /** The account, or null for a currency's totals. */
  accountId: string | null;
  currency: string;
  /** What is stored (a column, a total). */
  stored: string;
  /** What it should be, recomputed. */
  expected: string;
  message: string;
}

export interface ReconcileOptions {
  /** Accounts per page, and hold sums per fetch (BATCH_SIZE). */
  batchSize: number;
  /** Entries read per statement (ENTRIES_BATCH_SIZE). */
  entriesBatchSize: number;
  /** Bound on the whole run (its snapshot transaction), in ms. */
  timeoutMs: number;
  /** Hears each difference as it is found (so nothing accumulates). */
  report(difference: Difference): void;
  progress?: Progress;
}

export interface ReconcileSummary {
  accounts: bigint;
  entries: bigint;
  currencies: number;
  differences: number;
}

/** An account's entries, folded across the chunks they came in (sums, minima and maxima: any split gives the same). */
interface Fold {
  entries: bigint;
  sum: bigint;
  maxVersion: bigint;
  missingVersion: bigint | null;
  chainBreak: bigint | null;
}

interface Totals {
  posted: bigint;
  entries: bigint;
  pendingDebit: bigint;
  pendingCredit: bigint;
}

const big = (text: string | null) => (text === null ? null : BigInt(text));
const minOf = (a: bigint | null, b: bigint | null) => (a === null ? b : b === null ? a : a < b ? a : b);

/** Adds one chunk row to its account's fold. */
function fold(folds: Map<string, Fold>, row: EntryChunkRow): void {
  const before = folds.get(row.account_id);
  const maxVersion = BigInt(row.max_version);
  folds.set(row.account_id, {
    entries: (before?.entries ?? 0n) + BigInt(row.entries),
    sum: (before?.sum ?? 0n) + BigInt(row.amount_sum),
    maxVersion: before && before.maxVersion > maxVersion ? before.maxVersion : maxVersion,
    missingVersion: minOf(before?.missingVersion ?? null, big(row.missing_version)),
    chainBreak: minOf(before?.chainBreak ?? null, big(row.chain_break)),
  });
}

/** The pending-hold sums per account, read through the cursor alongside the accounts (both in id order). */
class HoldSums {
  private batch: HoldSumRow[] = [];
  private next = 0;
  private done = false;

  constructor(
    private readonly tx: TxClient,
    private readonly perFetch: number,
  ) {}

  async open(): Promise<void> {
    await this.tx.$executeRawUnsafe(DECLARE_HOLDS_CURSOR_SQL);
  }

  private async peek(): Promise<HoldSumRow | undefined> {
    if (this.next >= this.batch.length && !this.done) {
      this.batch = await this.tx.$queryRawUnsafe<HoldSumRow[]>(fetchHoldsSql(this.perFetch));
      this.next = 0;
      this.done = this.batch.length < this.perFetch;
    }
    return this.batch[this.next];
  }

  /** The sums for `accountId` (zero when it has no pending hold); sums of ids before it belong to no account. */
  async take(accountId: string | null, orphan: (row: HoldSumRow) => void): Promise<{ debit: bigint; credit: bigint }> {
    for (let row = await this.peek(); row !== undefined; row = await this.peek()) {
      if (accountId !== null && row.account_id > accountId) break;
      this.next++;
      if (row.account_id === accountId) return { debit: BigInt(row.pending_debit), credit: BigInt(row.pending_credit) };
      orphan(row);
    }
    return { debit: 0n, credit: 0n };
  }
}

export async function reconcile(db: Db, options: ReconcileOptions): Promise<ReconcileSummary> {
  let differences = 0;
  const report = (d: Difference) => {
    differences++;
    options.report(d);
  };
  const totals = new Map<string, Totals>();
  let accounts = 0n;
  let entries = 0n;

  await db.$transaction(
    async (tx) => {
      const [estimate] = await tx.$queryRawUnsafe<{ estimate: bigint }[]>(ACCOUNTS_ESTIMATE_SQL);
      const total = estimate && estimate.estimate > 0n ? estimate.estimate : 0n;
      const holds = new HoldSums(tx, options.batchSize);
      await holds.open();
      const orphan = (row: HoldSumRow) =>
        report({
          kind: "holds_without_account",
          accountId: row.account_id,
          currency: "",
          stored: "absent",
          expected: "an account",
          message: `pending holds name account ${row.account_id}, which does not exist`,
        });
      let after: string | null = null;
      for (;;) {
        const page: AccountRow[] =
          after === null
            ? await tx.$queryRawUnsafe<AccountRow[]>(FIRST_ACCOUNTS_SQL, options.batchSize)
            : await tx.$queryRawUnsafe<AccountRow[]>(NEXT_ACCOUNTS_SQL, after, options.batchSize);
        if (page.length === 0) break;
        const last = page[page.length - 1]!.id;
        const folds = await foldEntries(tx, page[0]!.id, last, options.entriesBatchSize);
        for (const account of page) {
          const f = folds.get(account.id);
          entries += f?.entries ?? 0n;
          const pending = await holds.take(account.id, orphan);
          checkAccount(account, f, pending, report);
          const t = totals.get(account.currency_code) ?? { posted: 0n, entries: 0n, pendingDebit: 0n, pendingCredit: 0n };
          t.posted += BigInt(account.posted);
          t.entries += f?.sum ?? 0n;
          t.pendingDebit += BigInt(account.pending_debit);
          t.pendingCredit += BigInt(account.pending_credit);
          totals.set(account.currency_code, t);
        }
        accounts += BigInt(page.length);
        options.progress?.update(accounts, total);
        after = last;
        if (page.length < options.batchSize) break;
      }
      await holds.take(null, orphan);
    },
    { isolationLevel: "RepeatableRead", timeout: options.timeoutMs },
  );
  options.progress?.finish();

  for (const [currency, t] of [...totals].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (t.posted !== 0n) {
      report({ kind: "currency_total", accountId: null, currency, stored: String(t.posted), expected: "0", message: `currency ${currency}: account balances sum to ${t.posted}, not 0` });
    }
    if (t.entries !== 0n) {
      report({ kind: "currency_entries_total", accountId: null, currency, stored: String(t.entries), expected: "0", message: `currency ${currency}: entries sum to ${t.entries}, not 0` });
    }
    if (t.pendingDebit !== t.pendingCredit) {
      report({
        kind: "currency_pending",
        accountId: null,
        currency,
        stored: String(t.pendingDebit),
        expected: String(t.pendingCredit),
        message: `currency ${currency}: pending debits total ${t.pendingDebit}, pending credits ${t.pendingCredit}`,
      });
    }
  }
  return { accounts, entries, currencies: totals.size, differences };
}

/** Every entry of the accounts from `first` to `last`, chunk by chunk, folded per account. */
async function foldEntries(tx: TxClient, first: string, last: string, perStatement: number): Promise<Map<string, Fold>> {
  const folds = new Map<string, Fold>();
  let account = first;
  let entry = BEFORE_ANY_ENTRY;
  for (;;) {
    const chunk = await tx.$queryRawUnsafe<EntryChunkRow[]>(ENTRY_CHUNK_SQL, account, entry, last, perStatement);
    let read = 0;
    for (const row of chunk) {
      fold(folds, row);
      read += Number(row.entries);
    }
    if (read < perStatement) return folds;
    account = chunk[chunk.length - 1]!.account_id;
    entry = chunk[chunk.length - 1]!.last_id;
  }
}

function checkAccount(a: AccountRow, f: Fold | undefined, pending: { debit: bigint; credit: bigint }, report: (d: Difference) => void): void {
  const where = `account ${a.id} (${a.currency_code})`;
  const base = { accountId: a.id, currency: a.currency_code };
  const sum = f?.sum ?? 0n;
  if (BigInt(a.posted) !== sum) {
    report({ ...base, kind: "posted", stored: a.posted, expected: String(sum), message: `${where}: posted is ${a.posted}, its entries sum to ${sum}` });
  }
  const lastVersion = f?.maxVersion ?? 0n;
  if (BigInt(a.version) !== lastVersion) {
    report({ ...base, kind: "version", stored: a.version, expected: String(lastVersion), message: `${where}: version is ${a.version}, its last entry's version is ${lastVersion}` });
  }
  if (f?.missingVersion != null) {
    report({
      ...base,
      kind: "version_gap",
      stored: "absent",
      expected: String(f.missingVersion),
      message: `${where}: entry version ${f.missingVersion} is missing (an account's entries carry versions 1, 2, 3, … without gaps)`,
    });
  }
  if (f?.chainBreak != null) {
    report({
      ...base,
      kind: "balance_after",
      stored: String(f.chainBreak),
      expected: "the previous balance_after plus the amount",
      message: `${where}: entry version ${f.chainBreak}: balance_after is not the previous entry's balance_after plus its amount`,
    });
  }
  for (const [kind, stored, expected] of [
    ["pending_debit", a.pending_debit, pending.debit],
    ["pending_credit", a.pending_credit, pending.credit],
  ] as const) {
    if (BigInt(stored) !== expected) {
      report({ ...base, kind, stored, expected: String(expected), message: `${where}: ${kind} is ${stored}, its pending holds reserve ${expected}` });
    }
  }
}
