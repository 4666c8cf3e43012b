/** Identity entities as the domain sees them. */

export type UserStatus = "ACTIVE" | "SUSPENDED" | "DELETED";

export interface ExternalIdentity {
  provider: string;
  subject: string;
}

export interface User {
  id: string;
  /** Normalized (lower-case); null once deleted. */
  handle: string | null;
  email: string | null;
  displayName: string;
  status: UserStatus;
  version: bigint;
  defaultAccountId: string | null;
  createdAt: Date;
  updatedAt: Date;
  externalIdentities: ExternalIdentity[];
}

/** The default wallet opened with a new user: a ledger account the store writes with the user. */
export interface NewWallet {
  id: string;
  userId: string;
  currency: string;
  label: string;
  createdAt: Date;
}
