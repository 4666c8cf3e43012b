/**
 * The ledger's storage, on Prisma. Reads use the typed model API; the write
 * path uses a few fixed raw statements (one prepared statement each), because
 * a transfer must be a handful of round trips:
 *
 *   BEGIN · claim key · lock accounts (ORDER BY id … FOR UPDATE) · write set · COMMIT
 *
 * The write set goes in one statement of data-modifying CTEs over unnest()ed
 * arrays, so its shape is the same for one transfer or a batch of hundreds.
 */
import type { Logger } from "pino";
import { DomainError, ErrorReason } from "../domain/errors.js";
import type { AccountFilter, ClaimOutcome, IdempotencyClaim, LedgerStore, LedgerTx, TimeRange, WriteSet } from "../domain/ledger/ports.js";
import { LedgerReason } from "../domain/ledger/posting.js";
import type { Account, AccountStatus, Entry, Hold, OwnerType, Transfer } from "../domain/ledger/types.js";
import type { Account as PrismaAccount, Entry as PrismaEntry, Hold as PrismaHold, Transfer as PrismaTransfer } from "../generated/prisma/client.js";
import type { Db } from "../lib/prisma.js";
import { staleTags, type CachePolicy } from "./cache-policy.js";
import { dbErrorFacts } from "./db-errors.js";
import { runWrite, type CommitFacts, type CommitListener, type RetryPolicy, type TxClient } from "./transaction.js";

interface AccountRow {
  id: string;
  owner_type: OwnerType;
  owner_id: string;
  currency_code: string;
  status: AccountStatus;
  min_balance: bigint | null;
  posted: bigint;
  pending_debit: bigint;
  pending_credit: bigint;
  version: bigint;
  label: string;
  is_default: boolean;
  created_at: Date;
  updated_at: Date;
  owner_status: "ACTIVE" | "SUSPENDED" | "DELETED" | null;
}

function accountOf(r: AccountRow): Account {
  return {
    id: r.id,
    owner: { type: r.owner_type, id: r.owner_id },
    ownerStatus: r.owner_status,
    currency: r.currency_code,
    status: r.status,
    minBalance: r.min_balance,
    posted: r.posted,
    pendingDebit: r.pending_debit,
    pendingCredit: r.pending_credit,
    version: r.version,
    label: r.label,
    isDefault: r.is_default,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Prisma model row → domain account. */
function accountOfModel(a: PrismaAccount): Account {
  return {
    id: a.id,
    owner: { type: a.ownerType, id: a.ownerId },
    currency: a.currencyCode,
    status: a.status,
    minBalance: a.minBalance,
    posted: a.posted,
    pendingDebit: a.pendingDebit,
    pendingCredit: a.pendingCredit,
    version: a.version,
    label: a.label,
    isDefault: a.isDefault,
    createdAt: a.createdAt,
    updatedAt: a.updatedAt,
  };
}

type TransferModel = PrismaTransfer & { entries: { accountId: string; balanceAfter: bigint; accountVersion: bigint }[] };

function transferOf(t: TransferModel): Transfer {
  const debit = t.entries.find((e) => e.accountId === t.debitAccountId);
  const credit = t.entries.find((e) => e.accountId === t.creditAccountId);
  if (!debit || !credit) throw new Error(`assertion failed: transfer ${t.id} lacks its two entries`);
  return {
    id: t.id,
    kind: t.kind,
    debitAccountId: t.debitAccountId,
    creditAccountId: t.creditAccountId,
    currency: t.currencyCode,
    amount: t.amount,
    idempotencyKey: t.idempotencyKey,
    memo: t.memo,
    batchId: t.batchId,
    reversesId: t.reversesId,
    reversedAmount: t.reversedAmount,
    holdId: t.holdId,
    createdAt: t.createdAt,
    debitBalanceAfter: debit.balanceAfter,
    creditBalanceAfter: credit.balanceAfter,
    debitAccountVersion: debit.accountVersion,
    creditAccountVersion: credit.accountVersion,
  };
}

const TRANSFER_INCLUDE = { entries: { select: { accountId: true, balanceAfter: true, accountVersion: true } } } as const;

function holdOf(h: PrismaHold): Hold {
  const { currencyCode, ...rest } = h;
  return { ...rest, currency: currencyCode };
}

function entryOf(e: PrismaEntry): Entry {
  const { id, ...rest } = e;
  return { position: id, ...rest };
}

/** Constraint names → what the client is told. Everything else is internal. */
export function translateLedgerError(error: unknown): unknown {
  const facts = dbErrorFacts(error);
  if (!facts) return error;
  switch (facts.constraint) {
    case "accounts_one_default_per_owner_currency":
      return new DomainError(ErrorReason.ALREADY_EXISTS, "the user already has a default account in this currency", "is_default");
    case "accounts_one_per_system_role_currency":
      return new DomainError(ErrorReason.ALREADY_EXISTS, "this system account already exists in this currency", "owner.system");
    case "transfers_idempotency_key_key":
    case "holds_idempotency_key_key":
      return new DomainError(ErrorReason.IDEMPOTENCY_KEY_REUSED, "idempotency_key was already used by an earlier request", "idempotency_key");
    case "accounts_currency_code_fkey":
      return new DomainError(ErrorReason.NOT_FOUND, "currency not found", "currency");
    case "accounts_available_within_policy":
      return new DomainError(LedgerReason.INSUFFICIENT_FUNDS, "insufficient funds", "amount", {}, "FAILED_PRECONDITION");
  }
  if (facts.sqlState === "22003" || facts.kind === "ValueOutOfRange") {
    return new DomainError(ErrorReason.AMOUNT_OVERFLOW, "an amount or balance would overflow int64", "amount");
  }
  return error;
}

/**
 * An account row as locked for a posting, with its owner's status from the
 * identity registry (CASE: system roles are not UUIDs and are never cast).
 */
const ACCOUNT_COLUMNS = `id, owner_type, owner_id, currency_code, status, min_balance, posted, pending_debit,
  pending_credit, version, label, is_default, created_at, updated_at,
  CASE WHEN owner_type = 'USER' THEN (SELECT u.status::text FROM users u WHERE u.id = owner_id::uuid) END AS owner_status`;

/** The ledger's side of one transaction; identity's transactions use it too (claim, wallet, reply). */
export class PrismaLedgerTx implements LedgerTx {
  /** Cache tags this transaction's writes make stale; invalidated once it commits. */
  readonly staleTags = new Set<string>();
  /** Each locked account's status as locked, to tell which writes change a status. */
  private readonly lockedStatus = new Map<string, AccountStatus>();
  private readonly written: CommitFacts = { auditEvents: 0, earliestHoldExpiry: null };

  constructor(private readonly tx: TxClient) {}

  /** What this transaction wrote, for the background jobs once it has committed. */
  commitFacts(): CommitFacts {
    return { ...this.written };
  }

  private remember(accounts: Map<string, Account>): Map<string, Account> {
    for (const [id, account] of accounts) if (!this.lockedStatus.has(id)) this.lockedStatus.set(id, account.status);
    return accounts;
  }

  async claim(claim: IdempotencyClaim): Promise<ClaimOutcome> {
    // ON CONFLICT waits for a concurrent holder of the key to commit or roll back.
    const inserted = await this.tx.$queryRawUnsafe<{ created_at: Date }[]>(
      "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING created_at",
      claim.scope,
      claim.key,
      claim.requestHash,
    );
    return inserted.length === 1 ? { kind: "new", now: inserted[0]!.created_at } : this.replayOf(claim);
  }

  /** The stored reply of a taken key, or IDEMPOTENCY_KEY_REUSED when the request differs. */
  private async replayOf(claim: IdempotencyClaim): Promise<ClaimOutcome> {
    // A new statement, so a new snapshot: it sees the holder's commit.
    const [existing] = await this.tx.$queryRawUnsafe<{ request_hash: Uint8Array; response: Uint8Array | null }[]>(
      "SELECT request_hash, response FROM idempotency_keys WHERE scope = $1 AND key = $2",
      claim.scope,
      claim.key,
    );
    if (!existing || existing.response === null) throw new Error("assertion failed: a committed idempotency key has no reply");
    if (!Buffer.from(existing.request_hash).equals(Buffer.from(claim.requestHash))) {
      throw new DomainError(ErrorReason.IDEMPOTENCY_KEY_REUSED, "idempotency_key was already used for a different request", "idempotency_key");
    }
    return { kind: "replay", response: existing.response };
  }

  async lockAccounts(ids: string[]): Promise<Map<string, Account>> {
    const unique = [...new Set(ids)];
    // ORDER BY id: every transaction locks in the same order, so two
    // opposite transfers cannot deadlock.
    const rows = await this.tx.$queryRawUnsafe<AccountRow[]>(
      `SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
      unique,
    );
    return this.remember(new Map(rows.map((r) => [r.id, accountOf(r)])));
  }

  async lockUserStatus(userId: string): Promise<"ACTIVE" | "SUSPENDED" | "DELETED" | null> {
    // FOR SHARE: a concurrent erasure waits until the account exists (and vice versa).
    const rows = await this.tx.$queryRawUnsafe<{ status: "ACTIVE" | "SUSPENDED" | "DELETED" }[]>(
      "SELECT status::text AS status FROM users WHERE id = $1::uuid FOR SHARE",
      userId,
    );
    return rows[0]?.status ?? null;
  }

  async lockHold(id: string): Promise<Hold | null> {
    const rows = await this.tx.$queryRaw<{ id: string }[]>`SELECT id FROM holds WHERE id = ${id}::uuid FOR UPDATE`;
    if (rows.length === 0) return null;
    const hold = await this.tx.hold.findUnique({ where: { id } });
    return hold && holdOf(hold);
  }

  async lockTransfer(id: string): Promise<Transfer | null> {
    const rows = await this.tx.$queryRaw<{ id: string }[]>`SELECT id FROM transfers WHERE id = ${id}::uuid FOR UPDATE`;
    if (rows.length === 0) return null;
    const transfer = await this.tx.transfer.findUnique({ where: { id }, include: TRANSFER_INCLUDE });
    return transfer && transferOf(transfer);
  }

  async lockExpiredHolds(limit: number): Promise<Hold[]> {
    const rows = await this.tx.$queryRaw<{ id: string }[]>`
      SELECT id FROM holds WHERE status = 'PENDING' AND expires_at <= now()
      ORDER BY expires_at LIMIT ${limit} FOR UPDATE SKIP LOCKED`;
    if (rows.length === 0) return [];
    const holds = await this.tx.hold.findMany({ where: { id: { in: rows.map((r) => r.id) } } });
    return holds.map(holdOf);
  }

  async claimAndLockAccounts(claim: IdempotencyClaim, ids: string[]): Promise<{ outcome: ClaimOutcome; accounts: Map<string, Account> }> {
    const rows = await this.tx.$queryRawUnsafe<(AccountRow & { claimed_at: Date | null })[]>(
      CLAIM_AND_LOCK_SQL,
      claim.scope,
      claim.key,
      claim.requestHash,
      [...new Set(ids)],
    );
    const accounts = this.remember(new Map(rows.filter((r) => r.id !== null).map((r) => [r.id, accountOf(r)])));
    const claimedAt = rows[0]?.claimed_at ?? null;
    // NULL: the key exists (committed before us, or we waited for its holder).
    return { outcome: claimedAt ? { kind: "new", now: claimedAt } : await this.replayOf(claim), accounts };
  }

  async claimManyAndLockAccounts(claims: IdempotencyClaim[], ids: string[]) {
    const rows = await this.tx.$queryRawUnsafe<(AccountRow & { claimed: { scope: string; key: string; at: string }[] | null })[]>(
      CLAIM_MANY_AND_LOCK_SQL,
      JSON.stringify(claims.map((c) => ({ scope: c.scope, key: c.key, hash: Buffer.from(c.requestHash).toString("base64") }))),
      [...new Set(ids)],
    );
    const accounts = this.remember(new Map(rows.filter((r) => r.id !== null).map((r) => [r.id, accountOf(r)])));
    const claimed = new Map((rows[0]?.claimed ?? []).map((c) => [`${c.scope}\u0000${c.key}`, new Date(c.at)]));
    return { claimed: (claim: IdempotencyClaim) => claimed.get(`${claim.scope}\u0000${claim.key}`) ?? null, accounts };
  }

  replay(claim: IdempotencyClaim): Promise<ClaimOutcome> {
    return this.replayOf(claim);
  }

  write(set: WriteSet, completion?: { claim: IdempotencyClaim; response: Uint8Array }): Promise<void> {
    return this.writeGroup(set, completion ? [completion] : [], []);
  }

  async writeGroup(set: WriteSet, completions: { claim: IdempotencyClaim; response: Uint8Array }[], released: IdempotencyClaim[]): Promise<void> {
    for (const { state } of set.accounts) {
      if (state.status !== this.lockedStatus.get(state.id)) for (const tag of staleTags.accountStatus(state.id)) this.staleTags.add(tag);
    }
    for (const r of set.reversals) for (const tag of staleTags.transferReversed(r.transferId)) this.staleTags.add(tag);
    this.written.auditEvents += set.audit.length;
    for (const hold of set.holds) {
      const due = this.written.earliestHoldExpiry;
      if (hold.status === "PENDING" && (due === null || hold.expiresAt < due)) this.written.earliestHoldExpiry = hold.expiresAt;
    }
    const payload = {
      ...writePayload(set),
      completions: completions.map((c) => ({ scope: c.claim.scope, key: c.claim.key, response: Buffer.from(c.response).toString("base64") })),
      released: released.map((c) => ({ scope: c.scope, key: c.key })),
    };
    const [counts] = await this.tx.$queryRawUnsafe<{ accounts: number; keys: number }[]>(
      WRITE_SQL,
      JSON.stringify(payload, (_key, value) => (typeof value === "bigint" ? value.toString() : value)),
    );
    // Under the row locks nothing can have moved; if it did, roll back loudly.
    if (counts!.accounts !== set.accounts.length) {
      throw new Error(`assertion failed: ${counts!.accounts} of ${set.accounts.length} account updates applied`);
    }
    if (counts!.keys !== completions.length) throw new Error("assertion failed: not every idempotency key was completed");
  }
}

/** The write set as JSON records, column names as in the tables (bigints become strings). */
function writePayload(set: WriteSet) {
  return {
    new_accounts: set.newAccounts.map((x) => ({
      id: x.id,
      owner_type: x.owner.type,
      owner_id: x.owner.id,
      currency_code: x.currency,
      label: x.label,
      is_default: x.isDefault,
      status: x.status,
      min_balance: x.minBalance,
      posted: x.posted,
      pending_debit: x.pendingDebit,
      pending_credit: x.pendingCredit,
      version: x.version,
      created_at: x.createdAt,
      updated_at: x.updatedAt,
    })),
    accounts: set.accounts.map((x) => ({
      id: x.state.id,
      from_version: x.fromVersion,
      status: x.state.status,
      posted: x.state.posted,
      pending_debit: x.state.pendingDebit,
      pending_credit: x.state.pendingCredit,
      version: x.state.version,
      updated_at: x.updatedAt,
    })),
    transfers: set.transfers.map((x) => ({
      id: x.id,
      kind: x.kind,
      debit_account_id: x.debitAccountId,
      credit_account_id: x.creditAccountId,
      currency_code: x.currency,
      amount: x.amount,
      idempotency_key: x.idempotencyKey,
      memo: x.memo,
      batch_id: x.batchId,
      reverses_id: x.reversesId,
      reversed_amount: x.reversedAmount,
      hold_id: x.holdId,
      created_at: x.createdAt,
    })),
    entries: set.entries.map((x) => ({
      transfer_id: x.transferId,
      account_id: x.accountId,
      amount: x.amount,
      balance_after: x.balanceAfter,
      account_version: x.accountVersion,
      created_at: x.createdAt,
    })),
    holds: set.holds.map((x) => ({
      id: x.id,
      debit_account_id: x.debitAccountId,
      credit_account_id: x.creditAccountId,
      currency_code: x.currency,
      amount: x.amount,
      status: x.status,
      captured_amount: x.capturedAmount,
      capture_transfer_id: x.captureTransferId,
      expires_at: x.expiresAt,
      idempotency_key: x.idempotencyKey,
      memo: x.memo,
      created_at: x.createdAt,
      updated_at: x.updatedAt,
    })),
    reversals: set.reversals.map((x) => ({ id: x.transferId, reversed_amount: x.reversedAmount })),
    audit: set.audit.map((x) => ({
      occurred_at: x.occurredAt,
      actor: x.actor,
      action: x.action,
      resource_type: x.resourceType,
      resource_id: x.resourceId,
      request_id: x.requestId,
      idempotency_key: x.idempotencyKey,
      payload: x.payload,
    })),
  };
}

/**
 * Claims the key and locks the accounts in one statement (one round trip).
 * The result has one row per locked account (or one row of NULLs when none
 * was found), each carrying the claim's timestamp, or NULL when the key was
 * already taken.
 */
const CLAIM_AND_LOCK_SQL = `
  WITH claimed AS (
    INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3)
    ON CONFLICT DO NOTHING RETURNING created_at
  ), locked AS (
    SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($4::uuid[]) ORDER BY id FOR UPDATE
  )
  SELECT locked.*, (SELECT created_at FROM claimed) AS claimed_at
  FROM (VALUES (1)) AS one (x) LEFT JOIN locked ON true`;

/**
 * The whole write set in one statement: data-modifying CTEs over
 * jsonb_to_recordset, one JSON parameter. The SQL text never changes, so it
 * is parsed once per pooled connection (a named prepared statement).
 */
const WRITE_SQL = `
  WITH payload AS (SELECT $1::jsonb AS p),
  new_accounts AS (
    INSERT INTO accounts (id, owner_type, owner_id, currency_code, label, is_default, status, min_balance,
                          posted, pending_debit, pending_credit, version, created_at, updated_at)
    SELECT id, owner_type, owner_id, currency_code, label, is_default, status, min_balance,
           posted, pending_debit, pending_credit, version, created_at, updated_at
    FROM payload, jsonb_to_recordset(p->'new_accounts') AS x(id uuid, owner_type owner_type, owner_id varchar, currency_code varchar,
      label varchar, is_default boolean, status account_status, min_balance bigint, posted bigint, pending_debit bigint,
      pending_credit bigint, version bigint, created_at timestamptz, updated_at timestamptz)
    RETURNING 1
  ), changed_accounts AS (
    UPDATE accounts SET status = u.status, posted = u.posted, pending_debit = u.pending_debit,
           pending_credit = u.pending_credit, version = u.version, updated_at = u.updated_at
    FROM payload, jsonb_to_recordset(p->'accounts') AS u(id uuid, from_version bigint, status account_status, posted bigint,
      pending_debit bigint, pending_credit bigint, version bigint, updated_at timestamptz)
    WHERE accounts.id = u.id AND accounts.version = u.from_version
    RETURNING 1
  ), new_transfers AS (
    INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, currency_code, amount, idempotency_key,
                           memo, batch_id, reverses_id, reversed_amount, hold_id, created_at)
    SELECT id, kind, debit_account_id, credit_account_id, currency_code, amount, idempotency_key,
           memo, batch_id, reverses_id, reversed_amount, hold_id, created_at
    FROM payload, jsonb_to_recordset(p->'transfers') AS x(id uuid, kind transfer_kind, debit_account_id uuid,
      credit_account_id uuid, currency_code varchar, amount bigint, idempotency_key varchar, memo varchar, batch_id uuid,
      reverses_id uuid, reversed_amount bigint, hold_id uuid, created_at timestamptz)
    RETURNING 1
  ), new_entries AS (
    INSERT INTO entries (transfer_id, account_id, amount, balance_after, account_version, created_at)
    SELECT transfer_id, account_id, amount, balance_after, account_version, created_at
    FROM payload, jsonb_to_recordset(p->'entries') AS x(transfer_id uuid, account_id uuid, amount bigint,
      balance_after bigint, account_version bigint, created_at timestamptz)
    RETURNING 1
  ), written_holds AS (
    INSERT INTO holds (id, debit_account_id, credit_account_id, currency_code, amount, status, captured_amount,
                       capture_transfer_id, expires_at, idempotency_key, memo, created_at, updated_at)
    SELECT id, debit_account_id, credit_account_id, currency_code, amount, status, captured_amount,
           capture_transfer_id, expires_at, idempotency_key, memo, created_at, updated_at
    FROM payload, jsonb_to_recordset(p->'holds') AS x(id uuid, debit_account_id uuid, credit_account_id uuid,
      currency_code varchar, amount bigint, status hold_status, captured_amount bigint, capture_transfer_id uuid,
      expires_at timestamptz, idempotency_key varchar, memo varchar, created_at timestamptz, updated_at timestamptz)
    ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, captured_amount = EXCLUDED.captured_amount,
      capture_transfer_id = EXCLUDED.capture_transfer_id, updated_at = EXCLUDED.updated_at
    RETURNING 1
  ), reversed AS (
    UPDATE transfers SET reversed_amount = v.reversed_amount
    FROM payload, jsonb_to_recordset(p->'reversals') AS v(id uuid, reversed_amount bigint)
    WHERE transfers.id = v.id
    RETURNING 1
  ), new_audit_events AS (
    -- WITH ORDINALITY keeps the events' order: their ids follow the order of the change.
    INSERT INTO audit_events (occurred_at, actor, action, resource_type, resource_id, request_id, idempotency_key, payload)
    SELECT (a->>'occurred_at')::timestamptz, a->>'actor', a->>'action', a->>'resource_type', a->>'resource_id',
           a->>'request_id', a->>'idempotency_key', a->'payload'
    FROM payload, jsonb_array_elements(p->'audit') WITH ORDINALITY AS e(a, n)
    ORDER BY n
    RETURNING 1
  ), completed_keys AS (
    UPDATE idempotency_keys SET response = decode(c.response, 'base64')
    FROM payload, jsonb_to_recordset(p->'completions') AS c(scope varchar, key varchar, response text)
    WHERE idempotency_keys.scope = c.scope AND idempotency_keys.key = c.key
    RETURNING 1
  ), released_keys AS (
    DELETE FROM idempotency_keys
    USING payload, jsonb_to_recordset(p->'released') AS r(scope varchar, key varchar)
    WHERE idempotency_keys.scope = r.scope AND idempotency_keys.key = r.key
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM changed_accounts)::int AS accounts, (SELECT count(*) FROM completed_keys)::int AS keys,
         (SELECT count(*) FROM released_keys)::int AS released`;

/**
 * Group commit's first statement: claims every key of the group (in key
 * order) and locks every account (in id order), in one round trip. Keys
 * already taken are left out of `claimed`.
 */
const CLAIM_MANY_AND_LOCK_SQL = `
  WITH claimed AS (
    INSERT INTO idempotency_keys (scope, key, request_hash)
    SELECT c.scope, c.key, decode(c.hash, 'base64')
    FROM jsonb_to_recordset($1::jsonb) AS c(scope varchar, key varchar, hash text)
    ORDER BY c.scope, c.key
    ON CONFLICT DO NOTHING RETURNING scope, key, created_at
  ), locked AS (
    SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($2::uuid[]) ORDER BY id FOR UPDATE
  )
  SELECT locked.*, (SELECT jsonb_agg(jsonb_build_object('scope', scope, 'key', key, 'at', created_at)) FROM claimed) AS claimed
  FROM (VALUES (1)) AS one (x) LEFT JOIN locked ON true`;

export interface LedgerStoreOptions {
  /** What may be cached and what each write invalidates. */
  cache: CachePolicy;
  /** Hears what each committed write wrote (wakes the sealer and the hold expiry). */
  onCommit?: CommitListener;
  retry?: RetryPolicy;
  logger?: Logger;
}

export function createLedgerStore(db: Db, options: LedgerStoreOptions): LedgerStore {
  const { cache } = options;
  return {
    transaction: (fn) =>
      runWrite(db, cache, (tx: TxClient) => new PrismaLedgerTx(tx), fn, {
        retry: options.retry,
        logger: options.logger,
        translate: translateLedgerError,
        onCommit: options.onCommit,
      }),

    async findAccount(id, consistency = "STRONG") {
      const account = await db.account.findUnique({ where: { id }, ...cache.account(id, consistency) });
      return account && accountOfModel(account);
    },

    async findBalance(id, consistency) {
      // One query (one round trip, one cache entry): the row and its newest entry agree.
      const account = await db.account.findUnique({
        where: { id },
        include: { entries: { orderBy: { id: "desc" as const }, take: 1 } },
        ...cache.account(id, consistency),
      });
      if (!account) return null;
      const { entries, ...row } = account;
      return { account: accountOfModel(row), last: entries[0] ? entryOf(entries[0]) : null };
    },

    async listAccounts(filter: AccountFilter, limit: number, afterId: string | null) {
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

    async listEntries(accountId: string, range: TimeRange, limit: number, beforePosition: bigint | null) {
      const entries = await db.entry.findMany({
        where: {
          accountId,
          ...(beforePosition !== null ? { id: { lt: beforePosition } } : {}),
          ...(range.start || range.end ? { createdAt: { ...(range.start ? { gte: range.start } : {}), ...(range.end ? { lt: range.end } : {}) } } : {}),
        },
        orderBy: { id: "desc" },
        take: limit,
        ...cache.historyUntil(range.end),
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
      return db.$executeRaw`
        DELETE FROM idempotency_keys WHERE (scope, key) IN (
          SELECT scope, key FROM idempotency_keys WHERE created_at < ${before} ORDER BY created_at LIMIT ${limit})`;
    },

    async lastEntryAsOf(accountId, asOf) {
      const entry = await db.entry.findFirst({
        where: { accountId, ...("time" in asOf ? { createdAt: { lte: asOf.time } } : { id: { lte: asOf.position } }) },
        orderBy: { id: "desc" },
        // Up to a settled time, the answer is final. Up to a position it is not:
        // a lower position can still commit after a higher one.
        ...("time" in asOf ? cache.historyUntil(asOf.time) : {}),
      });
      return entry && entryOf(entry);
    },
  };
}
