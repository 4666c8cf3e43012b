/** The identity registry's storage, on Prisma's typed model API (not a hot path: clarity first). */
import type { Logger } from "pino";
import type { ReadConsistency } from "../domain/consistency.js";
import { DomainError, ErrorReason } from "../domain/errors.js";
import type { IdentityStore, IdentityTx, IdentityWrites, UserFilter, UserLookup } from "../domain/identity/ports.js";
import type { User } from "../domain/identity/types.js";
import type { Prisma, User as PrismaUser } from "../generated/prisma/client.js";
import type { Db } from "../lib/prisma.js";
import { staleTags, type CachePolicy, type UserTagSource } from "./cache-policy.js";
import { dbErrorFacts } from "./db-errors.js";
import { PrismaLedgerTx, translateLedgerError } from "./ledger-store.js";
import { runWrite, type CommitFacts, type CommitListener, type RetryPolicy, type TxClient } from "./transaction.js";

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

/** Unique violations name the field the client got wrong. */
function translate(error: unknown): unknown {
  const facts = dbErrorFacts(error);
  switch (facts?.constraint) {
    case "users_handle_key":
      return new DomainError(ErrorReason.ALREADY_EXISTS, "handle is taken", "handle");
    case "users_email_lower_key":
      return new DomainError(ErrorReason.ALREADY_EXISTS, "email is already registered", "email");
    case "external_identities_pkey":
      return new DomainError(ErrorReason.ALREADY_EXISTS, "external identity is already linked to a user", "external_identity");
  }
  return translateLedgerError(error);
}

class PrismaIdentityTx implements IdentityTx {
  readonly ledger: PrismaLedgerTx;
  /** Each locked user as locked, to tell which cached lookups a write makes stale. */
  private readonly lockedUsers = new Map<string, User>();

  constructor(private readonly tx: TxClient) {
    this.ledger = new PrismaLedgerTx(tx);
  }

  /** Cache tags this transaction's writes make stale (identity's and the ledger side's). */
  get staleTags(): Set<string> {
    return this.ledger.staleTags;
  }

  /** What this transaction wrote (through the ledger side's shared write). */
  commitFacts(): CommitFacts {
    return this.ledger.commitFacts();
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

  async writeIdentity(w: IdentityWrites): Promise<void> {
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
}

export function createIdentityStore(db: Db, options: IdentityStoreOptions): IdentityStore {
  const { cache } = options;
  const load = async (id: string, consistency: ReadConsistency) => {
    const user = await db.user.findUnique({ where: { id }, include: WITH_IDENTITIES, ...cache.userById(id, consistency) });
    return user && userOf(user);
  };
  return {
    transaction: (fn) =>
      runWrite(db, cache, (tx: TxClient) => new PrismaIdentityTx(tx), fn, { retry: options.retry, logger: options.logger, translate, onCommit: options.onCommit }),

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
      const where: Prisma.UserWhereInput = {
        ...(filter.status ? { status: filter.status } : {}),
        ...(filter.handlePrefix ? { handle: { startsWith: filter.handlePrefix } } : {}),
        ...(filter.createdAfter || filter.createdBefore
          ? { createdAt: { ...(filter.createdAfter ? { gte: filter.createdAfter } : {}), ...(filter.createdBefore ? { lt: filter.createdBefore } : {}) } }
          : {}),
        ...(afterId ? { id: { gt: afterId } } : {}),
      };
      const users = await db.user.findMany({
        where,
        orderBy: { id: "asc" as const },
        take: limit,
        include: WITH_IDENTITIES,
      });
      return users.map(userOf);
    },
  };
}
