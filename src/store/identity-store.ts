/** The identity registry's storage, on Prisma's typed model API (not a hot path: clarity first). */
import type { Logger } from "pino";
import type { AuditEntry } from "../domain/audit/types.js";
import type { ReadConsistency } from "../domain/consistency.js";
import type { ClaimOutcome, Completion, IdempotencyClaim } from "../domain/idempotency.js";
import type { IdentityStore, IdentityTx, IdentityWrites, UserFilter, UserLookup } from "../domain/identity/ports.js";
import type { NewWallet, User } from "../domain/identity/types.js";
import { emptyWriteSet } from "../domain/ledger/ports.js";
import type { Account } from "../domain/ledger/types.js";
import type { Prisma, User as PrismaUser } from "../generated/prisma/client.js";
import type { Db } from "../lib/prisma.js";
import type { Observer } from "../domain/observer.js";
import { staleTags, type CachePolicy, type UserTagSource } from "./cache-policy.js";
import { USERS_BY_CREATION_SQL, USERS_BY_HANDLE_PREFIX_SQL } from "./page-sql.js";
import { translateConstraintError } from "./constraints.js";
import { runWrite, type CommitFacts, type CommitListener, type RetryPolicy, type TxClient } from "./transaction.js";
import { PrismaWriteTx } from "./write-tx.js";

const WITH_IDENTITIES = { externalIdentities: { select: { provider: true, subject: true }, orderBy: { createdAt: "asc" } } } as const;

type UserWithIdentities = PrismaUser & { externalIdentities: { provider: string; subject: string }[] };

function userOf(u: UserWithIdentities): User {
  return {
    id: u.id,
    handle: u.handle,
    email: u.email,
    displayName: u.displayName,
    status: u.status,
    version: u.version,
    defaultAccountId: u.defaultAccountId,
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
    externalIdentities: u.externalIdentities.map((x) => ({ provider: x.provider, subject: x.subject })),
  };
}

/**
 * The byte-wise range of the strings that start with `prefix` (handles are
 * ASCII): [prefix, prefix with its last character's successor). Matches the
 * prefix literally: `_` and `%` are characters like any other.
 */
export function prefixRange(prefix: string): [string, string] {
  const last = prefix.charCodeAt(prefix.length - 1);
  if (prefix === "" || last >= 0x7f) throw new Error(`assertion failed: handle prefix ${JSON.stringify(prefix)} is not normalized`);
  return [prefix, prefix.slice(0, -1) + String.fromCharCode(last + 1)];
}

/** A new user's default wallet, as the ledger account it is: never below zero, empty. */
function walletAccount(w: NewWallet): Account {
  return {
    id: w.id,
    owner: { type: "USER", id: w.userId },
    currency: w.currency,
    status: "ACTIVE",
    minBalance: 0n,
    posted: 0n,
    pendingDebit: 0n,
    pendingCredit: 0n,
    version: 0n,
    label: w.label,
    isDefault: true,
    createdAt: w.createdAt,
    updatedAt: w.createdAt,
  };
}

class PrismaIdentityTx implements IdentityTx {
  /** The shared writes (claim, wallets, audit events, reply) of the same transaction. */
  private readonly writer: PrismaWriteTx;
  /** Each locked user as locked, to tell which cached lookups a write makes stale. */
  private readonly lockedUsers = new Map<string, User>();

  constructor(private readonly tx: TxClient) {
    this.writer = new PrismaWriteTx(tx);
  }

  /** Cache tags this transaction's writes make stale (identity's and the shared writes'). */
  get staleTags(): Set<string> {
    return this.writer.staleTags;
  }

  /** What this transaction wrote (through the shared write). */
  commitFacts(): CommitFacts {
    return this.writer.commitFacts();
  }

  claim(claim: IdempotencyClaim): Promise<ClaimOutcome> {
    return this.writer.claim(claim);
  }

  refuse(completion: Completion): Promise<void> {
    return this.writer.refuse(completion);
  }

  async commit(writes: IdentityWrites, audit: AuditEntry[], completion: Completion): Promise<void> {
    await this.writeIdentity(writes);
    await this.writer.write(
      { ...emptyWriteSet(), newAccounts: writes.wallets.map(walletAccount), audit, scrubReplies: writes.scrubReplies },
      completion,
    );
  }

  async lockUser(id: string): Promise<User | null> {
    const locked = await this.tx.$queryRaw<{ id: string }[]>`SELECT id FROM users WHERE id = ${id}::uuid FOR UPDATE`;
    if (locked.length === 0) return null;
    const user = userOf(await this.tx.user.findUniqueOrThrow({ where: { id }, include: WITH_IDENTITIES }));
    this.lockedUsers.set(id, user);
    return user;
  }

  private noteStale(before: UserTagSource | null, after: UserTagSource): void {
    for (const tag of staleTags.user(before, after)) this.staleTags.add(tag);
  }

  private async writeIdentity(w: IdentityWrites): Promise<void> {
    const linksOf = (userId: string) => w.links.filter((l) => l.userId === userId).map((l) => l.identity);
    for (const user of w.newUsers) this.noteStale(null, { ...user, externalIdentities: linksOf(user.id) });
    for (const { user } of w.changedUsers) {
      const before = this.lockedUsers.get(user.id);
      if (!before) throw new Error(`assertion failed: user ${user.id} changed without its lock`);
      this.noteStale(before, { ...user, externalIdentities: [...user.externalIdentities, ...linksOf(user.id)] });
    }
    const row = (u: User): Prisma.UserCreateManyInput => ({
      id: u.id,
      handle: u.handle,
      email: u.email,
      displayName: u.displayName,
      status: u.status,
      version: u.version,
      defaultAccountId: u.defaultAccountId,
      createdAt: u.createdAt,
      updatedAt: u.updatedAt,
    });
    if (w.newUsers.length > 0) await this.tx.user.createMany({ data: w.newUsers.map(row) });
    for (const { user, fromVersion } of w.changedUsers) {
      const { id: _id, createdAt: _created, ...data } = row(user);
      // The version guard again, in SQL: under the row lock it cannot miss.
      const { count } = await this.tx.user.updateMany({ where: { id: user.id, version: fromVersion }, data });
      if (count !== 1) throw new Error(`assertion failed: user ${user.id} moved from version ${fromVersion} under its lock`);
    }
    if (w.unlinkAllOf.length > 0) await this.tx.externalIdentity.deleteMany({ where: { userId: { in: w.unlinkAllOf } } });
    if (w.links.length > 0) {
      await this.tx.externalIdentity.createMany({
        data: w.links.map((l) => ({ provider: l.identity.provider, subject: l.identity.subject, userId: l.userId, createdAt: l.createdAt })),
      });
    }
  }
}

export interface IdentityStoreOptions {
  /** What may be cached and what each write invalidates. */
  cache: CachePolicy;
  /** Hears what each committed write wrote (wakes the sealer). */
  onCommit?: CommitListener;
  retry?: RetryPolicy;
  logger?: Logger;
  /** Told each transaction retry (metrics). Default: nobody. */
  observer?: Observer;
}

export function createIdentityStore(db: Db, options: IdentityStoreOptions): IdentityStore {
  const { cache } = options;
  const load = async (id: string, consistency: ReadConsistency) => {
    const user = await db.user.findUnique({ where: { id }, include: WITH_IDENTITIES, ...cache.userById(id, consistency) });
    return user && userOf(user);
  };
  return {
    transaction: (fn) =>
      runWrite(db, cache, (tx: TxClient) => new PrismaIdentityTx(tx), fn, { retry: options.retry, logger: options.logger, observer: options.observer, translate: translateConstraintError, onCommit: options.onCommit }),

    async findUser(lookup: UserLookup, consistency: ReadConsistency) {
      if ("id" in lookup) return load(lookup.id, consistency);
      if ("handle" in lookup) {
        const user = await db.user.findUnique({ where: { handle: lookup.handle }, include: WITH_IDENTITIES, ...cache.userByHandle(lookup.handle, consistency) });
        return user && userOf(user);
      }
      if ("email" in lookup) {
        // lower(email) = lower($1) uses the unique index on lower(email). A raw
        // query is never cached, so the id is always current; the profile may be.
        const [row] = await db.$queryRaw<{ id: string }[]>`SELECT id FROM users WHERE lower(email) = lower(${lookup.email})`;
        return row ? load(row.id, consistency) : null;
      }
      const { provider, subject } = lookup.external;
      const link = await db.externalIdentity.findUnique({
        where: { provider_subject: { provider, subject } },
        select: { userId: true },
        ...cache.userIdByExternalIdentity(provider, subject, consistency),
      });
      return link ? load(link.userId, consistency) : null;
    },

    async findUsers(ids, consistency: ReadConsistency) {
      const users = await db.user.findMany({ where: { id: { in: ids } }, include: WITH_IDENTITIES, ...cache.usersByIds(consistency) });
      return users.map(userOf);
    },

    async listUsers(filter: UserFilter, limit: number, afterId: string | null) {
      // A creation range or a handle prefix pages over its own index (page-sql.ts),
      // then the page's users are read by id; otherwise by (status, id) or the primary key.
      const prefix = filter.handlePrefix ? prefixRange(filter.handlePrefix) : null;
      let ids: string[] | null = null;
      if (filter.createdAfter || filter.createdBefore) {
        const rows = await db.$queryRawUnsafe<{ id: string }[]>(
          USERS_BY_CREATION_SQL,
          filter.createdAfter ?? null,
          filter.createdBefore ?? null,
          afterId,
          filter.status ?? null,
          prefix?.[0] ?? null,
          prefix?.[1] ?? null,
          limit,
        );
        ids = rows.map((r) => r.id);
      } else if (prefix) {
        const rows = await db.$queryRawUnsafe<{ id: string }[]>(USERS_BY_HANDLE_PREFIX_SQL, prefix[0], prefix[1], afterId, filter.status ?? null, limit);
        ids = rows.map((r) => r.id);
      }
      if (ids) {
        if (ids.length === 0) return [];
        const byId = new Map((await db.user.findMany({ where: { id: { in: ids } }, include: WITH_IDENTITIES })).map((u) => [u.id, userOf(u)]));
        return ids.flatMap((id) => byId.get(id) ?? []);
      }
      const users = await db.user.findMany({
        where: { ...(filter.status ? { status: filter.status } : {}), ...(afterId ? { id: { gt: afterId } } : {}) },
        orderBy: { id: "asc" as const },
        take: limit,
        include: WITH_IDENTITIES,
      });
      return users.map(userOf);
    },
  };
}
