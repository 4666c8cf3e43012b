/**
 * The caching policy of every read, and the invalidations of every write, in
 * one place.
 *
 * Prisma Accelerate caches a model read when the read carries a
 * `cacheStrategy` (ttl and swr in seconds, tags), and forgets tagged entries
 * on `$accelerate.invalidate({ tags })`. The rules:
 *
 * | read | when cached | lifetime | tags | invalidated by |
 * |---|---|---|---|---|
 * | user by id, by handle | EVENTUAL | profile | user_…, handle_… | any change to the user |
 * | user by email | id from PostgreSQL, profile as by id | profile | user_… | any change to the user |
 * | user by external identity | EVENTUAL | profile | extid_…, user_… | link, erasure, any change |
 * | users by ids (batch) | EVENTUAL | profile | users_batch | any change to any user |
 * | account, current balance | EVENTUAL | balance | account_… | freeze, unfreeze, close; balances age out |
 * | transfer by id | EVENTUAL | transfer | transfer_… | a reversal of it |
 * | currencies | always | reference | currencies | migrations (tag `currencies`) |
 * | balance as of a settled time | always | final | – | never: it cannot change |
 * | entries page ending at a settled time | always | final | – | never: entries are append-only |
 *
 * Never cached: everything read inside a transaction (the locks and checks
 * behind every write), transfers by idempotency key (they decide retries),
 * holds, account and user lists, the audit log, balances as of a position.
 *
 * "Settled" means older than the settle horizon: no transaction still open
 * can write an entry stamped before it (entries carry the time their
 * transaction began, and a transaction lives at most its timeout).
 *
 * Balances are not invalidated by transfers on purpose: that would be one
 * more HTTP call per transfer, and invalidation is rate-limited. An EVENTUAL
 * balance is at most its lifetime (ttl + swr) old.
 */
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { ReadConsistency } from "../domain/consistency.js";
import type { CacheLifetime, CacheLifetimes } from "../lib/config.js";
import type { Db } from "../lib/prisma.js";

/** Accelerate's tag alphabet and length (`^[a-zA-Z0-9_]{1,64}$`). */
const TAG_PATTERN = /^[A-Za-z0-9_]{1,64}$/;
/** Accelerate takes at most 5 tags per cacheStrategy and per invalidate call. */
export const MAX_TAGS_PER_CALL = 5;

/** What a read hands Prisma: spread it into the query's arguments. */
export type CacheArgs = { cacheStrategy?: { ttl: number; swr?: number; tags?: string[] } };

const NOT_CACHED: CacheArgs = {};

function checkedTag(tag: string): string {
  if (!TAG_PATTERN.test(tag)) throw new Error(`assertion failed: cache tag ${JSON.stringify(tag)} is outside Accelerate's alphabet`);
  return tag;
}

/** Hex digest, for keys whose characters fall outside the tag alphabet. */
const digest = (...parts: string[]) => createHash("sha256").update(parts.join("\0")).digest("hex").slice(0, 40);
const compactUuid = (id: string) => id.replaceAll("-", "").toLowerCase();

/** Cache tags, built only here so reads and invalidations agree. */
export const cacheTag = {
  user: (id: string) => checkedTag(`user_${compactUuid(id)}`),
  /** Handles are normalized to [a-z0-9_], inside the tag alphabet. */
  handle: (handle: string) => checkedTag(`handle_${handle}`),
  externalIdentity: (provider: string, subject: string) => checkedTag(`extid_${digest(provider, subject)}`),
  usersBatch: () => "users_batch",
  account: (id: string) => checkedTag(`account_${compactUuid(id)}`),
  transfer: (id: string) => checkedTag(`transfer_${compactUuid(id)}`),
  currencies: () => "currencies",
} as const;

/** The slice of a user the invalidation rules look at. */
export interface UserTagSource {
  id: string;
  handle: string | null;
  externalIdentities: { provider: string; subject: string }[];
}

/** The tags a write invalidates, by what it changed. */
export const staleTags = {
  /** A user was created (`before` null) or changed: every lookup that could return it, before and after. */
  user(before: UserTagSource | null, after: UserTagSource): string[] {
    const tags = new Set<string>();
    if (before) {
      tags.add(cacheTag.user(before.id));
      tags.add(cacheTag.usersBatch());
    }
    for (const u of before ? [before, after] : [after]) {
      if (u.handle) tags.add(cacheTag.handle(u.handle));
      for (const x of u.externalIdentities) tags.add(cacheTag.externalIdentity(x.provider, x.subject));
    }
    return [...tags];
  },
  accountStatus: (accountId: string) => [cacheTag.account(accountId)],
  transferReversed: (transferId: string) => [cacheTag.transfer(transferId)],
} as const;

export interface CachePolicyOptions {
  /** Whether an Accelerate cache is there at all; when false nothing is invalidated (a direct client ignores it). */
  active: boolean;
  /** Per kind of read; config.ts documents the defaults. */
  lifetimes: CacheLifetimes;
  /** Age after which no open transaction can still write history stamped before it. Default 60000 ms. */
  settleHorizonMs?: number;
  /** Bound on one invalidation round (all its calls). Default 2000 ms. */
  invalidateTimeoutMs?: number;
  logger?: Logger;
  /** Clock, for tests. */
  now?: () => number;
}

export class CachePolicy {
  readonly active: boolean;
  private readonly lifetimes: CacheLifetimes;
  private readonly settleHorizonMs: number;
  private readonly invalidateTimeoutMs: number;
  private readonly now: () => number;

  constructor(
    private readonly db: Db,
    private readonly options: CachePolicyOptions,
  ) {
    this.active = options.active;
    this.lifetimes = options.lifetimes;
    this.settleHorizonMs = options.settleHorizonMs ?? 60_000;
    this.invalidateTimeoutMs = options.invalidateTimeoutMs ?? 2_000;
    this.now = options.now ?? Date.now;
  }

  private strategy(lifetime: CacheLifetime, tags: string[] = []): CacheArgs {
    if (lifetime.ttlSeconds === 0) return NOT_CACHED;
    if (tags.length > MAX_TAGS_PER_CALL) throw new Error(`assertion failed: ${tags.length} tags on one read (at most ${MAX_TAGS_PER_CALL})`);
    return {
      cacheStrategy: {
        ttl: lifetime.ttlSeconds,
        ...(lifetime.swrSeconds > 0 ? { swr: lifetime.swrSeconds } : {}),
        ...(tags.length > 0 ? { tags } : {}),
      },
    };
  }

  private eventual(consistency: ReadConsistency, lifetime: CacheLifetime, tags: string[]): CacheArgs {
    return consistency === "EVENTUAL" ? this.strategy(lifetime, tags) : NOT_CACHED;
  }

  /** True when `time` is older than the settle horizon: history up to it is final. */
  isSettled(time: Date): boolean {
    return time.getTime() <= this.now() - this.settleHorizonMs;
  }

  userById = (id: string, c: ReadConsistency) => this.eventual(c, this.lifetimes.profile, [cacheTag.user(id)]);
  userByHandle = (handle: string, c: ReadConsistency) => this.eventual(c, this.lifetimes.profile, [cacheTag.handle(handle)]);
  userIdByExternalIdentity = (provider: string, subject: string, c: ReadConsistency) =>
    this.eventual(c, this.lifetimes.profile, [cacheTag.externalIdentity(provider, subject)]);
  usersByIds = (c: ReadConsistency) => this.eventual(c, this.lifetimes.profile, [cacheTag.usersBatch()]);
  account = (id: string, c: ReadConsistency) => this.eventual(c, this.lifetimes.balance, [cacheTag.account(id)]);
  transferById = (id: string, c: ReadConsistency) => this.eventual(c, this.lifetimes.transfer, [cacheTag.transfer(id)]);
  currencies = () => this.strategy(this.lifetimes.reference, [cacheTag.currencies()]);
  /** History up to `end`: cached only once it is settled, whatever the caller asked. */
  historyUntil = (end: Date | undefined) => (end !== undefined && this.isSettled(end) ? this.strategy(this.lifetimes.final) : NOT_CACHED);

  /**
   * Forgets cached reads under `tags`, after the write that made them stale
   * has committed. At most 5 tags per call, the calls in parallel, the whole
   * round bounded in time. A failure is logged, not thrown: the write has
   * committed, and what stays stale ages out within its lifetime.
   */
  async invalidate(tags: Iterable<string>): Promise<void> {
    // Direct mode: nothing to do, and nothing built (this runs after every write).
    if (!this.active) return;
    const unique = [...new Set(tags)];
    if (unique.length === 0) return;
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < unique.length; i += MAX_TAGS_PER_CALL) {
      calls.push(this.db.$accelerate.invalidate({ tags: unique.slice(i, i + MAX_TAGS_PER_CALL) }));
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`cache invalidation took longer than ${this.invalidateTimeoutMs} ms`)), this.invalidateTimeoutMs);
    });
    try {
      await Promise.race([Promise.all(calls), timeout]);
    } catch (error) {
      this.options.logger?.warn({ err: error, tags: unique }, "cache invalidation failed; stale reads age out within their lifetime");
    } finally {
      clearTimeout(timer);
    }
  }
}
