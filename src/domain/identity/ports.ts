/** What the identity domain needs from storage. */
import type { AuditEntry } from "../audit/types.js";
import type { ReadConsistency } from "../consistency.js";
import type { Completion } from "../idempotency.js";
import type { KeyedTx } from "../keyed.js";
import type { Page } from "../pagination.js";
import type { ExternalIdentity, NewWallet, User, UserStatus } from "./types.js";

export interface IdentityWrites {
  newUsers: User[];
  /** Default wallets opened with new users (ledger accounts, written in the same statement). */
  wallets: NewWallet[];
  /** Changed users; `fromVersion` guards the optimistic-concurrency check again in SQL. */
  changedUsers: { user: User; fromVersion: bigint }[];
  links: { userId: string; identity: ExternalIdentity; createdAt: Date }[];
  /** Users whose external identities are all removed (erasure). */
  unlinkAllOf: string[];
  /** Erasure: every stored reply carrying `userId`'s personal data becomes `response` (the erased user). */
  scrubReplies: { userId: string; response: Uint8Array }[];
}

export function emptyIdentityWrites(): IdentityWrites {
  return { newUsers: [], wallets: [], changedUsers: [], links: [], unlinkAllOf: [], scrubReplies: [] };
}

export interface IdentityTx extends KeyedTx {
  /** Locks a user row. */
  lockUser(id: string): Promise<User | null>;
  /** Writes the identity rows, the wallets, the audit events and the reply under the key. */
  commit(writes: IdentityWrites, audit: AuditEntry[], completion: Completion): Promise<void>;
}

export type UserLookup = { id: string } | { handle: string } | { email: string } | { external: ExternalIdentity };

export interface UserFilter {
  status?: UserStatus;
  createdAfter?: Date;
  createdBefore?: Date;
  handlePrefix?: string;
}

export interface IdentityStore {
  transaction<T>(fn: (tx: IdentityTx) => Promise<T>): Promise<T>;
  findUser(lookup: UserLookup, consistency: ReadConsistency): Promise<User | null>;
  findUsers(ids: string[], consistency: ReadConsistency): Promise<User[]>;
  listUsers(filter: UserFilter, limit: number, afterId: string | null): Promise<User[]>;
}

export type { Page };
