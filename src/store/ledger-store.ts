/**
 * The ledger's storage, on Prisma.
 *
 * - Transfer: one statement per group, `SELECT ledger_post_transfers($1)`
 *   (transfer-statement.ts): claim every key, lock the accounts in id order,
 *   post, write and store each key's outcome, as one implicit transaction.
 * - Other mutations: an interactive transaction of a few fixed statements
 *   (ledger-sql.ts, ledger-tx.ts): BEGIN · claim key + lock accounts
 *   (ORDER BY id … FOR UPDATE) · write set (one statement of data-modifying
 *   CTEs, the same shape for one transfer or hundreds) · COMMIT.
 * - Reads: fixed statements where nothing may be cached (read-sql.ts), the
 *   model API where Accelerate may cache them, and keyset pages by one index
 *   (page-sql.ts).
 */
import type { Logger } from "pino";
import type { AccountFilter, EntryCursor, LedgerStore } from "../domain/ledger/ports.js";
import type { TimeRange } from "../domain/checks.js";
import type { ReadConsistency } from "../domain/consistency.js";
import type { Db } from "../lib/prisma.js";
import type { Observer } from "../domain/observer.js";
import type { CachePolicy } from "./cache-policy.js";
import { translateConstraintError } from "./constraints.js";
import { accountOfColumns, accountOfModel, entryOf, holdOf, TRANSFER_INCLUDE, transferOf, type AccountColumns } from "./ledger-rows.js";
import { ACCOUNTS_BY_CURRENCY_SQL } from "./page-sql.js";
import { ACCOUNT_BY_ID_SQL, ACCOUNTS_BY_IDS_SQL, BALANCE_BY_ID_SQL, BALANCES_BY_IDS_SQL } from "./read-sql.js";
import { ReadBatcher, type ReadBatchOptions } from "./read-batch.js";
import { PrismaLedgerTx } from "./ledger-tx.js";
import { runStatement, runWrite, type CommitListener, type RetryPolicy, type TxClient } from "./transaction.js";
import { outcomesOfResult, POST_TRANSFERS_SQL, postTransfersPayload } from "./transfer-statement.js";

export interface LedgerStoreOptions {
  /** What may be cached and what each write invalidates. */
  cache: CachePolicy;
  /** Hears what each committed write wrote (wakes the sealer and the hold expiry). */
  onCommit?: CommitListener;
  retry?: RetryPolicy;
  logger?: Logger;
  /** Told each transaction retry (metrics). Default: nobody. */
  observer?: Observer;
  /** Limits of the batches that STRONG account and balance reads are coalesced into. Default: read-batch.ts's. */
  readBatch?: ReadBatchOptions;
}

export function createLedgerStore(db: Db, options: LedgerStoreOptions): LedgerStore {
  const { cache } = options;
  /** Whether a read may be answered from Accelerate's cache: only then is the (slower) model query worth its directives. */
  const cachable = (consistency: ReadConsistency) => cache.active && consistency === "EVENTUAL";
  // Concurrent uncached reads by id share one statement (read-batch.ts); a lone read sends the one-key form.
  const byIds = <R extends AccountColumns, V>(manySql: string, oneSql: string, value: (row: R) => V) =>
    new ReadBatcher<V>(async (ids) => {
      const rows = await (ids.length === 1 ? db.$queryRawUnsafe<R[]>(oneSql, ids[0]) : db.$queryRawUnsafe<R[]>(manySql, ids));
      return new Map(rows.map((row) => [row.id, value(row)]));
    }, options.readBatch);
  const accounts = byIds(ACCOUNTS_BY_IDS_SQL, ACCOUNT_BY_ID_SQL, (row: AccountColumns) => accountOfColumns(row));
  const balances = byIds(BALANCES_BY_IDS_SQL, BALANCE_BY_ID_SQL, (row: AccountColumns & { last_position: bigint }) => ({
    account: accountOfColumns(row),
    position: row.last_position,
  }));
  return {
    transaction: (fn) =>
      runWrite(db, cache, (tx: TxClient) => new PrismaLedgerTx(tx), fn, {
        retry: options.retry,
        logger: options.logger, observer: options.observer,
        translate: translateConstraintError,
        onCommit: options.onCommit,
      }),

    async postTransfers(scope, members) {
      const [row] = await runStatement(db, (d) => d.$queryRawUnsafe<{ r: Parameters<typeof outcomesOfResult>[0] }[]>(POST_TRANSFERS_SQL, postTransfersPayload(scope, members)), {
        retry: options.retry,
        logger: options.logger, observer: options.observer,
        translate: translateConstraintError,
      });
      const outcomes = outcomesOfResult(row!.r, members.length);
      const posted = outcomes.filter((o) => o.kind === "new").length;
      // Every posted transfer wrote one audit event: the sealer has work.
      if (posted > 0) options.onCommit?.({ auditEvents: posted, earliestHoldExpiry: null });
      return outcomes;
    },

    async findAccount(id, consistency = "STRONG") {
      if (!cachable(consistency)) {
        return accounts.read(id);
      }
      const account = await db.account.findUnique({ where: { id }, ...cache.account(id, consistency) });
      return account && accountOfModel(account);
    },

    async findBalance(id, consistency) {
      // One statement (one round trip, one cache entry): the row and its newest entry agree.
      if (!cachable(consistency)) {
        return balances.read(id);
      }
      const account = await db.account.findUnique({
        where: { id },
        include: { entries: { orderBy: { id: "desc" as const }, take: 1 } },
        ...cache.account(id, consistency),
      });
      if (!account) return null;
      const { entries, ...row } = account;
      return { account: accountOfModel(row), position: entries[0]?.id ?? 0n };
    },

    async listAccounts(filter: AccountFilter, limit: number, afterId: string | null) {
      if (filter.currency && !filter.owner) {
        // By currency (and status): one id range per status of the (currency, status, id) index, merged.
        const rows = await db.$queryRawUnsafe<AccountColumns[]>(ACCOUNTS_BY_CURRENCY_SQL, filter.currency, filter.status ?? null, afterId, limit);
        return rows.map(accountOfColumns);
      }
      const accounts = await db.account.findMany({
        where: {
          ...(filter.owner ? { ownerType: filter.owner.type, ownerId: filter.owner.id } : {}),
          ...(filter.currency ? { currencyCode: filter.currency } : {}),
          ...(filter.status ? { status: filter.status } : {}),
          ...(afterId ? { id: { gt: afterId } } : {}),
        },
        orderBy: { id: "asc" },
        take: limit,
      });
      return accounts.map(accountOfModel);
    },

    async findTransfer(by, consistency = "STRONG") {
      // By key it answers "did my transfer happen?", which decides a retry: never cached.
      const transfer =
        "id" in by
          ? await db.transfer.findUnique({ where: { id: by.id }, include: TRANSFER_INCLUDE, ...cache.transferById(by.id, consistency) })
          : await db.transfer.findUnique({ where: { idempotencyKey: by.idempotencyKey }, include: TRANSFER_INCLUDE });
      return transfer && transferOf(transfer);
    },

    async findTransfers(ids) {
      if (ids.length === 0) return [];
      const transfers = await db.transfer.findMany({ where: { id: { in: ids } }, include: TRANSFER_INCLUDE });
      return transfers.map(transferOf);
    },

    async findHold(id) {
      const hold = await db.hold.findUnique({ where: { id } });
      return hold && holdOf(hold);
    },

    async listEntries(accountId: string, range: TimeRange, limit: number, before: EntryCursor | null) {
      // Along an account, position, account version and (created_at, position)
      // order agree: its entries are written under its row lock, numbered 1, 2,
      // 3, … and stamped no earlier than its last change (PostingSession.now).
      // So each page is read in that order from the index that bounds it.
      const cached = cache.historyUntil(range.end);
      const createdAt = range.start || range.end ? { createdAt: { ...(range.start ? { gte: range.start } : {}), ...(range.end ? { lt: range.end } : {}) } } : null;
      if (!createdAt) {
        // No time range: below the cursor's position, by (account_id, id).
        const entries = await db.entry.findMany({
          where: { accountId, ...(before ? { id: { lt: before.position } } : {}) },
          orderBy: { id: "desc" },
          take: limit,
          ...cached,
        });
        return entries.map(entryOf);
      }
      if (!before) {
        // A time range's first page: from its end down, by (account_id, created_at, id).
        const entries = await db.entry.findMany({ where: { accountId, ...createdAt }, orderBy: [{ createdAt: "desc" }, { id: "desc" }], take: limit, ...cached });
        return entries.map(entryOf);
      }
      // A later page of a time range: the `limit` versions below the cursor's,
      // by (account_id, account_version), those still in the range. Tokens
      // issued before they carried the version: the entry below the position tells it.
      let below = before.version;
      if (below === null) {
        const next = await db.entry.findFirst({ where: { accountId, id: { lt: before.position } }, orderBy: { id: "desc" }, select: { accountVersion: true }, ...cached });
        if (!next) return [];
        below = next.accountVersion + 1n;
      }
      const entries = await db.entry.findMany({
        where: { accountId, accountVersion: { lt: below, gte: below - BigInt(limit) }, ...createdAt },
        orderBy: { accountVersion: "desc" },
        take: limit,
        ...cached,
      });
      return entries.map(entryOf);
    },

    async nextHoldExpiry() {
      // The same clock as lockExpiredHolds; min() reads one end of the (status, expires_at) index.
      const [row] = await db.$queryRaw<{ next: Date | null; now: Date }[]>`
        SELECT (SELECT min(expires_at) FROM holds WHERE status = 'PENDING') AS next, now() AS now`;
      return { next: row!.next, now: row!.now };
    },

    async purgeIdempotencyKeys(before: Date, limit: number) {
      // Bounded batches keep each delete short; the job calls again while there is more.
      // The oldest rows by the created_at index, deleted by their ctid (a TID scan):
      // joining on (scope, key) instead, a generic plan guesses LIMIT at a tenth of
      // the table and hashes it against a scan. A row updated in between has a new
      // ctid and is left for the next run.
      return db.$executeRaw`
        DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY (
          SELECT ctid FROM idempotency_keys WHERE created_at < ${before} ORDER BY created_at LIMIT ${limit}))`;
    },

    async lastEntryAsOf(accountId, asOf) {
      // By time: (created_at, id) order is position order along an account (see
      // listEntries), so the (account_id, created_at, id) index answers with one entry.
      const entry =
        "time" in asOf
          ? await db.entry.findFirst({
              where: { accountId, createdAt: { lte: asOf.time } },
              orderBy: [{ createdAt: "desc" }, { id: "desc" }],
              // Up to a settled time, the answer is final.
              ...cache.historyUntil(asOf.time),
            })
          : // Up to a position it is not: a lower position can still commit after a higher one.
            await db.entry.findFirst({ where: { accountId, id: { lte: asOf.position } }, orderBy: { id: "desc" } });
      return entry && entryOf(entry);
    },
  };
}
