/**
 * The identity registry's use cases. Every mutation is one transaction:
 * claim the idempotency key, lock the user, check the version, write the
 * user (and, for a new user, the default wallet) and the reply.
 */
import { uuidv7 } from "../../lib/ids.js";
import { entryOf, type AuditPayload, type AuditRecord } from "../audit/types.js";
import { checkCurrencyCode, checkId } from "../checks.js";
import type { ReadConsistency } from "../consistency.js";
import { DomainError, ErrorReason, notFound } from "../errors.js";
import { throwIfGone } from "../call.js";
import { checkIdempotencyKey, outcomeOf, type Idempotency, type Outcome } from "../idempotency.js";
import { runKeyed } from "../keyed.js";
import { decodeIdCursor, encodePageToken, pageSize } from "../pagination.js";
import { emptyIdentityWrites, type IdentityStore, type IdentityTx, type IdentityWrites, type Page, type UserFilter, type UserLookup } from "./ports.js";
import { normalizeEmail, normalizeHandle, normalizeHandlePrefix } from "./rules.js";
import type { ExternalIdentity, NewWallet, User, UserStatus } from "./types.js";


export interface CreateUserCommand {
  handle: string;
  email: string;
  displayName: string;
  externalIdentity?: ExternalIdentity;
}

export interface UpdateUserCommand {
  userId: string;
  version: bigint;
  paths: string[];
  handle: string;
  email: string;
  displayName: string;
}

function userAudit(action: string, userId: string, payload: AuditPayload): AuditRecord {
  return { action, resourceType: "user", resourceId: userId, payload };
}

function userDeleted(id: string): DomainError {
  return new DomainError(ErrorReason.USER_DELETED, `user ${id} is deleted`, "user_id");
}

export class Identity {
  private readonly walletCurrency: string;

  constructor(
    private readonly store: IdentityStore,
    /** Currency of the default wallet every new user gets. */
    walletCurrency: string,
  ) {
    this.walletCurrency = checkCurrencyCode("DEFAULT_WALLET_CURRENCY", walletCurrency);
  }

  /**
   * One keyed mutation (keyed.ts) of a user. The reply carries the user's
   * personal data, so it is stored with the user's id: erasure scrubs it.
   */
  private mutate(
    idem: Idempotency<User>,
    work: (tx: IdentityTx, now: Date) => Promise<{ result: User; writes: IdentityWrites; audit: AuditRecord[] }>,
  ): Promise<Outcome<User>> {
    checkIdempotencyKey(idem.claim.key);
    return runKeyed(this.store, idem, async (tx) => {
      const claimed = await tx.claim(idem.claim);
      if (claimed.kind !== "new") return outcomeOf(claimed, idem);
      const { result, writes, audit } = await work(tx, claimed.now);
      // The last statement before COMMIT: a caller who has gone gets nothing committed.
      throwIfGone(idem.context);
      await tx.commit(
        writes,
        audit.map((r) => entryOf(r, idem.context, claimed.now, idem.claim.key)),
        { claim: idem.claim, response: idem.encode(result), userId: result.id },
      );
      return { result };
    });
  }

  createUser(cmd: CreateUserCommand, idem: Idempotency<User>): Promise<Outcome<User>> {
    const handle = normalizeHandle(cmd.handle);
    const email = normalizeEmail(cmd.email);
    const displayName = cmd.displayName;
    const external = cmd.externalIdentity;
    return this.mutate(idem, async (_tx, now) => {
      const id = uuidv7(now.getTime());
      // The seed's userWallet: opened with the user, in the same transaction.
      const wallet: NewWallet = { id: uuidv7(now.getTime()), userId: id, currency: this.walletCurrency, label: "wallet", createdAt: now };
      const user: User = {
        id,
        handle,
        email,
        displayName,
        status: "ACTIVE",
        version: 1n,
        defaultAccountId: wallet.id,
        createdAt: now,
        updatedAt: now,
        externalIdentities: external ? [external] : [],
      };
      const writes = emptyIdentityWrites();
      writes.newUsers.push(user);
      writes.wallets.push(wallet);
      if (external) writes.links.push({ userId: id, identity: external, createdAt: now });
      // No personal data in audit payloads: the log can never forget it.
      return { result: user, writes, audit: [userAudit("identity.user.create", id, { default_account_id: wallet.id })] };
    });
  }

  async getUser(lookup: UserLookup, consistency: ReadConsistency = "STRONG"): Promise<User> {
    let normalized: UserLookup;
    let field: string;
    if ("id" in lookup) [normalized, field] = [{ id: checkId("user_id", lookup.id) }, "user_id"];
    else if ("handle" in lookup) [normalized, field] = [{ handle: normalizeHandle(lookup.handle) }, "handle"];
    else if ("email" in lookup) [normalized, field] = [{ email: lookup.email }, "email"];
    else [normalized, field] = [{ external: lookup.external }, "external_identity"];
    const user = await this.store.findUser(normalized, consistency);
    if (!user) throw notFound(field, "user");
    return user;
  }

  async batchGetUsers(ids: string[], consistency: ReadConsistency = "STRONG"): Promise<User[]> {
    ids.forEach((id, i) => checkId(`user_ids[${i}]`, id));
    const byId = new Map((await this.store.findUsers([...new Set(ids)], consistency)).map((u) => [u.id, u]));
    return ids.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : []));
  }

  private async lockLiveUser(tx: IdentityTx, id: string): Promise<User> {
    const user = await tx.lockUser(id);
    if (!user) throw notFound("user_id", `user ${id}`);
    if (user.status === "DELETED") throw userDeleted(id);
    return user;
  }

  updateUser(cmd: UpdateUserCommand, idem: Idempotency<User>): Promise<Outcome<User>> {
    checkId("user_id", cmd.userId);
    // The contract's rules hold the mask to at least one of handle, email and display_name.
    const changes: Partial<Pick<User, "handle" | "email" | "displayName">> = {};
    if (cmd.paths.includes("handle")) changes.handle = normalizeHandle(cmd.handle);
    if (cmd.paths.includes("email")) changes.email = normalizeEmail(cmd.email);
    if (cmd.paths.includes("display_name")) changes.displayName = cmd.displayName;
    return this.mutate(idem, async (tx, now) => {
      const user = await this.lockLiveUser(tx, cmd.userId);
      if (user.version !== cmd.version) {
        throw new DomainError(
          ErrorReason.VERSION_MISMATCH,
          `version ${cmd.version} is stale: the user is at version ${user.version}; read it again`,
          "version",
          { current_version: String(user.version) },
        );
      }
      const updated: User = { ...user, ...changes, version: user.version + 1n, updatedAt: now };
      return {
        result: updated,
        writes: { ...emptyIdentityWrites(), changedUsers: [{ user: updated, fromVersion: user.version }] },
        audit: [userAudit("identity.user.update", user.id, { fields: cmd.paths, version: updated.version.toString() })],
      };
    });
  }

  private changeStatus(userId: string, reason: string, idem: Idempotency<User>, next: UserStatus): Promise<Outcome<User>> {
    checkId("user_id", userId);
    return this.mutate(idem, async (tx, now) => {
      const user = await this.lockLiveUser(tx, userId);
      const audit = [userAudit(next === "SUSPENDED" ? "identity.user.suspend" : "identity.user.reactivate", userId, { from_status: user.status, reason })];
      if (user.status === next) return { result: user, writes: emptyIdentityWrites(), audit };
      const updated: User = { ...user, status: next, version: user.version + 1n, updatedAt: now };
      return { result: updated, writes: { ...emptyIdentityWrites(), changedUsers: [{ user: updated, fromVersion: user.version }] }, audit };
    });
  }

  suspendUser(userId: string, reason: string, idem: Idempotency<User>) {
    return this.changeStatus(userId, reason, idem, "SUSPENDED");
  }

  reactivateUser(userId: string, reason: string, idem: Idempotency<User>) {
    return this.changeStatus(userId, reason, idem, "ACTIVE");
  }

  /**
   * Erasure: handle, email and display name are scrubbed and external
   * identities unlinked; the id stays as a tombstone so ledger history keeps
   * its owner. Handle and email are released (free to register again):
   * keeping them reserved would mean keeping personal data.
   */
  deleteUser(userId: string, reason: string, idem: Idempotency<User>): Promise<Outcome<User>> {
    checkId("user_id", userId);
    return this.mutate(idem, async (tx, now) => {
      const user = await tx.lockUser(userId);
      if (!user) throw notFound("user_id", `user ${userId}`);
      const audit = [userAudit("identity.user.delete", userId, { reason })];
      if (user.status === "DELETED") return { result: user, writes: emptyIdentityWrites(), audit };
      const erased: User = {
        ...user,
        handle: null,
        email: null,
        displayName: "",
        status: "DELETED",
        version: user.version + 1n,
        updatedAt: now,
        externalIdentities: [],
      };
      return {
        result: erased,
        writes: {
          ...emptyIdentityWrites(),
          changedUsers: [{ user: erased, fromVersion: user.version }],
          unlinkAllOf: [userId],
          // Every earlier reply about this user (create, update, …) now replays the erased user.
          scrubReplies: [{ userId, response: idem.encode(erased) }],
        },
        audit,
      };
    });
  }

  linkExternalIdentity(userId: string, identity: ExternalIdentity, idem: Idempotency<User>): Promise<Outcome<User>> {
    checkId("user_id", userId);
    return this.mutate(idem, async (tx, now) => {
      const user = await this.lockLiveUser(tx, userId);
      const updated: User = { ...user, externalIdentities: [...user.externalIdentities, identity], version: user.version + 1n, updatedAt: now };
      return {
        result: updated,
        writes: {
          ...emptyIdentityWrites(),
          changedUsers: [{ user: updated, fromVersion: user.version }],
          links: [{ userId, identity, createdAt: now }],
        },
        audit: [userAudit("identity.user.link_external_identity", userId, { provider: identity.provider })],
      };
    });
  }

  async listUsers(filter: UserFilter, requestedPageSize: number, pageToken: string): Promise<Page<User>> {
    const normalized: UserFilter = { ...filter, handlePrefix: filter.handlePrefix ? normalizeHandlePrefix(filter.handlePrefix) : undefined };
    const limit = pageSize(requestedPageSize);
    const fingerprint = { listing: "users", ...normalized, createdAfter: normalized.createdAfter?.toISOString(), createdBefore: normalized.createdBefore?.toISOString() };
    const after = decodeIdCursor(pageToken, fingerprint);
    const rows = await this.store.listUsers(normalized, limit + 1, after);
    const items = rows.slice(0, limit);
    return { items, next: rows.length > limit ? encodePageToken(items[items.length - 1]!.id, fingerprint) : "" };
  }
}
