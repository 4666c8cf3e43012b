/** The identity registry's storage, on Prisma's typed model API (not a hot path: clarity first). */
import type { Logger } from "pino";
import { DomainError, ErrorReason } from "../domain/errors.js";
import type { IdentityStore, IdentityTx, IdentityWrites, UserFilter, UserLookup } from "../domain/identity/ports.js";
import type { User } from "../domain/identity/types.js";
import type { Prisma, User as PrismaUser } from "../generated/prisma/client.js";
import type { Db } from "../lib/prisma.js";
import { dbErrorFacts } from "./db-errors.js";
import { PrismaLedgerTx, translateLedgerError } from "./ledger-store.js";
import { runTransaction, type RetryPolicy, type TxClient } from "./transaction.js";

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
  constructor(private readonly tx: TxClient) {
    this.ledger = new PrismaLedgerTx(tx);
  }

  async lockUser(id: string): Promise<User | null> {
    const locked = await this.tx.$queryRaw<{ id: string }[]>`SELECT id FROM users WHERE id = ${id}::uuid FOR UPDATE`;
    if (locked.length === 0) return null;
    return userOf(await this.tx.user.findUniqueOrThrow({ where: { id }, include: WITH_IDENTITIES }));
  }

  async writeIdentity(w: IdentityWrites): Promise<void> {
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

export function createIdentityStore(db: Db, options: { retry?: RetryPolicy; logger?: Logger } = {}): IdentityStore {
  const load = async (id: string) => {
    const user = await db.user.findUnique({ where: { id }, include: WITH_IDENTITIES });
    return user && userOf(user);
  };
  return {
    transaction: (fn) => runTransaction(db, (tx) => fn(new PrismaIdentityTx(tx)), { ...options, translate }),

    async findUser(lookup: UserLookup) {
      if ("id" in lookup) return load(lookup.id);
      if ("handle" in lookup) {
        const user = await db.user.findUnique({ where: { handle: lookup.handle }, include: WITH_IDENTITIES });
        return user && userOf(user);
      }
      if ("email" in lookup) {
        // lower(email) = lower($1) uses the unique index on lower(email).
        const [row] = await db.$queryRaw<{ id: string }[]>`SELECT id FROM users WHERE lower(email) = lower(${lookup.email})`;
        return row ? load(row.id) : null;
      }
      const link = await db.externalIdentity.findUnique({
        where: { provider_subject: { provider: lookup.external.provider, subject: lookup.external.subject } },
        select: { userId: true },
      });
      return link ? load(link.userId) : null;
    },

    async findUsers(ids) {
      const users = await db.user.findMany({ where: { id: { in: ids } }, include: WITH_IDENTITIES });
      return users.map(userOf);
    },

    async listUsers(filter: UserFilter, limit: number, afterId: string | null) {
      const users = await db.user.findMany({
        where: {
          ...(filter.status ? { status: filter.status } : {}),
          ...(filter.handlePrefix ? { handle: { startsWith: filter.handlePrefix } } : {}),
          ...(filter.createdAfter || filter.createdBefore
            ? { createdAt: { ...(filter.createdAfter ? { gte: filter.createdAfter } : {}), ...(filter.createdBefore ? { lt: filter.createdBefore } : {}) } }
            : {}),
          ...(afterId ? { id: { gt: afterId } } : {}),
        },
        orderBy: { id: "asc" },
        take: limit,
        include: WITH_IDENTITIES,
      });
      return users.map(userOf);
    },
  };
}
