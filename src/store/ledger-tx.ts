/** The ledger's side of one write transaction: the shared writes plus the ledger's locks. */
import type { ClaimOutcome, IdempotencyClaim } from "../domain/idempotency.js";
import type { LedgerTx } from "../domain/ledger/ports.js";
import type { Account, Hold, Transfer } from "../domain/ledger/types.js";
import { accountOf, holdOf, TRANSFER_INCLUDE, transferOf, type AccountRow } from "./ledger-rows.js";
import { ACCOUNT_COLUMNS, CLAIM_AND_LOCK_SQL } from "./ledger-sql.js";
import { PrismaWriteTx } from "./write-tx.js";

export class PrismaLedgerTx extends PrismaWriteTx implements LedgerTx {
  async lockAccounts(ids: string[]): Promise<Map<string, Account>> {
    const unique = [...new Set(ids)];
    // ORDER BY id: every transaction locks in the same order, so two
    // opposite transfers cannot deadlock.
    const rows = await this.tx.$queryRawUnsafe<AccountRow[]>(
      `SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
      unique,
    );
    return this.remember(new Map(rows.map((r) => [r.id, accountOf(r)])));
  }

  async lockUserStatus(userId: string): Promise<"ACTIVE" | "SUSPENDED" | "DELETED" | null> {
    // FOR SHARE: a concurrent erasure waits until the account exists (and vice versa).
    const rows = await this.tx.$queryRawUnsafe<{ status: "ACTIVE" | "SUSPENDED" | "DELETED" }[]>(
      "SELECT status::text AS status FROM users WHERE id = $1::uuid FOR SHARE",
      userId,
    );
    return rows[0]?.status ?? null;
  }

  async lockHold(id: string): Promise<Hold | null> {
    const rows = await this.tx.$queryRaw<{ id: string }[]>`SELECT id FROM holds WHERE id = ${id}::uuid FOR UPDATE`;
    if (rows.length === 0) return null;
    const hold = await this.tx.hold.findUnique({ where: { id } });
    return hold && holdOf(hold);
  }

  async lockTransfer(id: string): Promise<Transfer | null> {
    const rows = await this.tx.$queryRaw<{ id: string }[]>`SELECT id FROM transfers WHERE id = ${id}::uuid FOR UPDATE`;
    if (rows.length === 0) return null;
    const transfer = await this.tx.transfer.findUnique({ where: { id }, include: TRANSFER_INCLUDE });
    return transfer && transferOf(transfer);
  }

  async lockExpiredHolds(limit: number): Promise<{ holds: Hold[]; now: Date }> {
    // One clock for the verdict and the stamp: the transaction's.
    const rows = await this.tx.$queryRaw<{ id: string | null; now: Date }[]>`
      SELECT h.id, now() AS now FROM (VALUES (1)) AS one (x) LEFT JOIN LATERAL (
        SELECT id FROM holds WHERE status = 'PENDING' AND expires_at <= now()
        ORDER BY expires_at LIMIT ${limit} FOR UPDATE SKIP LOCKED) h ON true`;
    const now = rows[0]!.now;
    const ids = rows.flatMap((r) => (r.id === null ? [] : [r.id]));
    if (ids.length === 0) return { holds: [], now };
    const holds = await this.tx.hold.findMany({ where: { id: { in: ids } } });
    return { holds: holds.map(holdOf), now };
  }

  async claimAndLockAccounts(claim: IdempotencyClaim, ids: string[]): Promise<{ outcome: ClaimOutcome; accounts: Map<string, Account> }> {
    const rows = await this.tx.$queryRawUnsafe<(AccountRow & { claimed_at: Date | null })[]>(
      CLAIM_AND_LOCK_SQL,
      claim.scope,
      claim.key,
      claim.requestHash,
      [...new Set(ids)],
    );
    const accounts = this.remember(new Map(rows.filter((r) => r.id !== null).map((r) => [r.id, accountOf(r)])));
    const claimedAt = rows[0]?.claimed_at ?? null;
    // NULL: the key exists (committed before us, or we waited for its holder).
    return { outcome: claimedAt ? { kind: "new", now: claimedAt } : await this.replay(claim), accounts };
  }
}
