/**
 * The identity registry's use cases. Every mutation is one transaction:
 * claim the idempotency key, lock the user, check the version, write the
 * user (and, for a new user, the default wallet) and the reply.
 */
import { isUuid, uuidv7 } from "../../lib/ids.js";
import { entryOf, type AuditPayload, type AuditRecord } from "../audit/types.js";
import type { ReadConsistency } from "../consistency.js";
import { DomainError, ErrorReason, invalidArgument, notFound } from "../errors.js";
import { checkCurrencyCode } from "../ledger/currency.js";
import { checkId, checkIdempotencyKey, type Idempotency, type Outcome } from "../ledger/ledger.js";
import { emptyWriteSet } from "../ledger/ports.js";
import type { Account } from "../ledger/types.js";
import { decodePageToken, encodePageToken, pageSize } from "../pagination.js";
import { emptyIdentityWrites, type IdentityStore, type IdentityTx, type IdentityWrites, type Page, type UserFilter, type UserLookup } from "./ports.js";
import { checkDisplayName, checkExternalIdentity, normalizeEmail, normalizeHandle, normalizeHandlePrefix } from "./rules.js";
import type { ExternalIdentity, User, UserStatus } from "./types.js";

/** Most ids one BatchGetUsers may ask for. */
export const MAX_BATCH_GET_USERS = 100;
const MAX_REASON_LENGTH = 256;
/** The fields UpdateUser's mask may name. */
export const UPDATABLE_FIELDS = ["handle", "email", "display_name"] as const;

export const IdentityReason = {
  USER_DELETED: "USER_DELETED",
} as const;

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
  return new DomainError(IdentityReason.USER_DELETED, `user ${id} is deleted`, "user_id", {}, "FAILED_PRECONDITION");
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

  private mutate<R>(
    idem: Idempotency<R>,
    work: (tx: IdentityTx, now: Date) => Promise<{ result: R; writes: IdentityWrites; wallet?: Account; audit: AuditRecord[] }>,
  ) {
    checkIdempotencyKey(idem.claim.key);
    return this.store.transaction(async (tx): Promise<Outcome<R>> => {
      const claimed = await tx.ledger.claim(idem.claim);
      if (claimed.kind === "replay") return { replay: claimed.response };
      const { result, writes, wallet, audit } = await work(tx, claimed.now);
      await tx.writeIdentity(writes);
      await tx.ledger.write(
        {
          ...emptyWriteSet(),
          newAccounts: wallet ? [wallet] : [],
          audit: audit.map((r) => entryOf(r, idem.context, claimed.now, idem.claim.key)),
        },
        { claim: idem.claim, response: idem.encode(result) },
      );
      return { result };
    });
  }

  createUser(cmd: CreateUserCommand, idem: Idempotency<User>): Promise<Outcome<User>> {
    const handle = normalizeHandle("handle", cmd.handle);
    const email = normalizeEmail("email", cmd.email);
    const displayName = checkDisplayName("display_name", cmd.displayName);
    const external = cmd.externalIdentity && checkExternalIdentity("external_identity", cmd.externalIdentity);
    return this.mutate(idem, async (_tx, now) => {
      const id = uuidv7(now.getTime());
      // The seed's userWallet: opened with the user, in the same transaction.
      const wallet: Account = {
        id: uuidv7(now.getTime()),
        owner: { type: "USER", id },
        currency: this.walletCurrency,
        status: "ACTIVE",
        minBalance: 0n,
        posted: 0n,
        pendingDebit: 0n,
        pendingCredit: 0n,
        version: 0n,
        label: "wallet",
        isDefault: true,
        createdAt: now,
        updatedAt: now,
      };
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
      if (external) writes.links.push({ userId: id, identity: external, createdAt: now });
      // No personal data in audit payloads: the log can never forget it.
      return { result: user, writes, wallet, audit: [userAudit("identity.user.create", id, { default_account_id: wallet.id })] };
    });
  }

  async getUser(lookup: UserLookup, consistency: ReadConsistency = "STRONG"): Promise<User> {
    let normalized: UserLookup;
    let field: string;
    if ("id" in lookup) [normalized, field] = [{ id: checkId("user_id", lookup.id) }, "user_id"];
    else if ("handle" in lookup) [normalized, field] = [{ handle: normalizeHandle("handle", lookup.handle) }, "handle"];
    else if ("email" in lookup) {
      const email = normalizeEmail("email", lookup.email);
      if (!email) throw invalidArgument("email", "is required");
      [normalized, field] = [{ email }, "email"];
    } else [normalized, field] = [{ external: checkExternalIdentity("external_identity", lookup.external) }, "external_identity"];
    const user = await this.store.findUser(normalized, consistency);
    if (!user) throw notFound(field, "user");
    return user;
  }

  async batchGetUsers(ids: string[], consistency: ReadConsistency = "STRONG"): Promise<User[]> {
    if (ids.length === 0 || ids.length > MAX_BATCH_GET_USERS) throw invalidArgument("user_ids", `must hold 1 to ${MAX_BATCH_GET_USERS} ids`);
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
    if (cmd.paths.length === 0) throw invalidArgument("update_mask", `must name at least one of ${UPDATABLE_FIELDS.join(", ")}`);
    const unknown = cmd.paths.filter((p) => !(UPDATABLE_FIELDS as readonly string[]).includes(p));
    if (unknown.length > 0) throw invalidArgument("update_mask", `cannot update ${unknown.join(", ")}; updatable: ${UPDATABLE_FIELDS.join(", ")}`);
    if (cmd.version <= 0n) throw invalidArgument("version", "is required: the version you last read");
    const changes: Partial<Pick<User, "handle" | "email" | "displayName">> = {};
    if (cmd.paths.includes("handle")) changes.handle = normalizeHandle("handle", cmd.handle);
    if (cmd.paths.includes("email")) changes.email = normalizeEmail("email", cmd.email);
    if (cmd.paths.includes("display_name")) changes.displayName = checkDisplayName("display_name", cmd.displayName);
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
    if (reason.length > MAX_REASON_LENGTH) throw invalidArgument("reason", `must be at most ${MAX_REASON_LENGTH} characters`);
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
    if (reason.length > MAX_REASON_LENGTH) throw invalidArgument("reason", `must be at most ${MAX_REASON_LENGTH} characters`);
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
        writes: { ...emptyIdentityWrites(), changedUsers: [{ user: erased, fromVersion: user.version }], unlinkAllOf: [userId] },
        audit,
      };
    });
  }

  linkExternalIdentity(userId: string, identity: ExternalIdentity, idem: Idempotency<User>): Promise<Outcome<User>> {
    checkId("user_id", userId);
    checkExternalIdentity("external_identity", identity);
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
    const normalized: UserFilter = { ...filter, handlePrefix: filter.handlePrefix ? normalizeHandlePrefix("handle_prefix", filter.handlePrefix) : undefined };
    if (normalized.createdAfter && normalized.createdBefore && normalized.createdAfter >= normalized.createdBefore) {
      throw invalidArgument("created_before", "must be after created_after");
    }
    const limit = pageSize(requestedPageSize);
    const fingerprint = { ...normalized, createdAfter: normalized.createdAfter?.toISOString(), createdBefore: normalized.createdBefore?.toISOString() };
    const after = decodePageToken(pageToken, fingerprint);
    if (after !== null && !isUuid(after)) throw invalidArgument("page_token", "is not a token this service issued");
    const rows = await this.store.listUsers(normalized, limit + 1, after);
    const items = rows.slice(0, limit);
    return { items, next: rows.length > limit ? encodePageToken(items[items.length - 1]!.id, fingerprint) : "" };
  }
}
