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
