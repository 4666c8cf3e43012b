/** What the identity domain needs from storage. */
import type { ReadConsistency } from "../consistency.js";
import type { LedgerTx, Page } from "../ledger/ports.js";
import type { ExternalIdentity, User, UserStatus } from "./types.js";

export interface IdentityWrites {
  newUsers: User[];
  /** Changed users; `fromVersion` guards the optimistic-concurrency check again in SQL. */
  changedUsers: { user: User; fromVersion: bigint }[];
  links: { userId: string; identity: ExternalIdentity; createdAt: Date }[];
  /** Users whose external identities are all removed (erasure). */
  unlinkAllOf: string[];
}

export function emptyIdentityWrites(): IdentityWrites {
  return { newUsers: [], changedUsers: [], links: [], unlinkAllOf: [] };
}

export interface IdentityTx {
  /** The ledger side of the same transaction (idempotency claim, wallet, reply). */
  ledger: LedgerTx;
  /** Locks a user row. */
  lockUser(id: string): Promise<User | null>;
  /** Writes identity rows (the caller then completes through `ledger.write`). */
  writeIdentity(writes: IdentityWrites): Promise<void>;
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
