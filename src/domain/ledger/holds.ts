/**
 * Holds (two-phase transfers): reserve now, then capture, void or let
 * expire. Each step is one keyed mutation; expiry is the service's own work.
 */
import { uuidv7 } from "../../lib/ids.js";
import { entryOf } from "../audit/types.js";
import { SYSTEM_CONTEXT } from "../call.js";
import { checkId } from "../checks.js";
import { DomainError, ErrorReason, invalidArgument, notFound } from "../errors.js";
import type { Idempotency, Outcome } from "../idempotency.js";
import { holdAudit } from "./audit-records.js";
import type { HoldCommand } from "./commands.js";
import { Mutations } from "./mutations.js";
import { emptyWriteSet, type LedgerStore, type LedgerTx } from "./ports.js";
import { PostingSession } from "./posting.js";
import type { Hold, Transfer } from "./types.js";
import type { CurrencyLookup } from "./currency.js";
import { checkLeg, checkLegCurrency, DEFAULT_HOLD_TIMEOUT_MS, legNamer, MAX_HOLD_TIMEOUT_MS } from "./validators.js";

function expired(hold: Hold): DomainError {
  return new DomainError(ErrorReason.HOLD_EXPIRED, `hold ${hold.id} expired at ${hold.expiresAt.toISOString()}`, "hold_id", {
    expire_time: hold.expiresAt.toISOString(),
  });
}

export class Holds {
  private readonly mutations: Mutations;

  constructor(
    private readonly store: LedgerStore,
    /** Which currencies exist (a request's optional `currency` must name one). */
    private readonly currencies: CurrencyLookup,
  ) {
    this.mutations = new Mutations(store);
  }

  async createHold(cmd: HoldCommand, idem: Idempotency<Hold>): Promise<Outcome<Hold>> {
    checkLeg(cmd, legNamer(null));
    await checkLegCurrency(this.currencies, cmd, legNamer(null));
    if (cmd.timeoutMs < 0n || cmd.timeoutMs > BigInt(MAX_HOLD_TIMEOUT_MS)) {
      throw invalidArgument("timeout_ms", `must be between 0 and ${MAX_HOLD_TIMEOUT_MS} (0 means ${DEFAULT_HOLD_TIMEOUT_MS})`);
    }
    const timeoutMs = cmd.timeoutMs === 0n ? DEFAULT_HOLD_TIMEOUT_MS : Number(cmd.timeoutMs);
    return this.mutations.runOnAccounts(idem, [cmd.debitAccountId, cmd.creditAccountId], (locked, now) => {
      const session = new PostingSession(locked, now);
      session.reserve(cmd, legNamer(null), idem.context.mayDebit);
      const hold: Hold = {
        id: uuidv7(now.getTime()),
        debitAccountId: cmd.debitAccountId,
        creditAccountId: cmd.creditAccountId,
        currency: locked.get(cmd.debitAccountId)!.currency,
        amount: cmd.amount,
        status: "PENDING",
        capturedAmount: 0n,
        captureTransferId: null,
        expiresAt: new Date(now.getTime() + timeoutMs),
        idempotencyKey: cmd.idempotencyKey,
        memo: cmd.memo,
        createdAt: now,
        updatedAt: now,
      };
      return {
        result: hold,
        writes: { ...emptyWriteSet(), accounts: session.changedAccounts(), holds: [hold] },
        audit: [holdAudit("ledger.hold.create", hold, { expires_at: hold.expiresAt.toISOString() })],
      };
    });
  }

  /**
   * Locks a hold that can still be captured or voided: pending, and not
   * past its expiry. Expired means HOLD_EXPIRED whether or not the expiry job
   * has released it yet; captured or voided means HOLD_NOT_PENDING.
   */
  private async lockLiveHold(tx: LedgerTx, holdId: string, now: Date): Promise<Hold> {
    const hold = await tx.lockHold(holdId);
    if (!hold) throw notFound("hold_id", `hold ${holdId}`);
    if (hold.status === "EXPIRED" || (hold.status === "PENDING" && hold.expiresAt <= now)) throw expired(hold);
    if (hold.status !== "PENDING") {
      throw new DomainError(ErrorReason.HOLD_NOT_PENDING, `hold ${holdId} is ${hold.status.toLowerCase()}`, "hold_id", { status: hold.status });
    }
    return hold;
  }

  /**
   * Posts all or part of a pending hold. The capture must post before the
   * hold's expiry, judged at the instant the posting records (its
   * create_time, which is the transaction's time raised to the accounts'
   * latest change, so that entry times never go backwards on an account):
   * a capture that would post at or after expire_time is refused HOLD_EXPIRED.
   */
  captureHold(holdId: string, amount: bigint, idem: Idempotency<{ hold: Hold; transfer: Transfer }>) {
    checkId("hold_id", holdId);
    if (amount < 0n) throw invalidArgument("amount", "must be zero (the whole hold) or more");
    return this.mutations.run(idem, async (tx, now) => {
      const hold = await this.lockLiveHold(tx, holdId, now);
      const take = amount === 0n ? hold.amount : amount;
      if (take > hold.amount) throw invalidArgument("amount", `must not exceed the hold's amount (${hold.amount})`);
      const session = new PostingSession(await tx.lockAccounts([hold.debitAccountId, hold.creditAccountId]), now);
      if (session.now >= hold.expiresAt) throw expired(hold);
      session.release(hold);
      const transfer = session.post(
        { debitAccountId: hold.debitAccountId, creditAccountId: hold.creditAccountId, amount: take, currency: hold.currency, memo: hold.memo },
        { id: uuidv7(now.getTime()), kind: "HOLD_CAPTURE", idempotencyKey: null, batchId: null, reversesId: null, holdId: hold.id },
        (field) => (field === "amount" ? "amount" : "hold_id"),
      );
      const captured: Hold = { ...hold, status: "CAPTURED", capturedAmount: take, captureTransferId: transfer.id, updatedAt: session.now };
      return {
        result: { hold: captured, transfer },
        writes: { ...emptyWriteSet(), accounts: session.changedAccounts(), transfers: [transfer], entries: session.entries, holds: [captured] },
        audit: [holdAudit("ledger.hold.capture", captured, { captured_amount: take.toString(), transfer_id: transfer.id })],
      };
    });
  }

  /** Releases a pending hold. Like a capture, it is refused HOLD_EXPIRED once the expiry has passed (the expiry releases it). */
  voidHold(holdId: string, idem: Idempotency<Hold>): Promise<Outcome<Hold>> {
    checkId("hold_id", holdId);
    return this.mutations.run(idem, async (tx, now) => {
      const hold = await this.lockLiveHold(tx, holdId, now);
      const session = new PostingSession(await tx.lockAccounts([hold.debitAccountId, hold.creditAccountId]), now);
      if (session.now >= hold.expiresAt) throw expired(hold);
      session.release(hold);
      const voided: Hold = { ...hold, status: "VOIDED", updatedAt: session.now };
      return {
        result: voided,
        writes: { ...emptyWriteSet(), accounts: session.changedAccounts(), holds: [voided] },
        audit: [holdAudit("ledger.hold.void", voided, { status: voided.status })],
      };
    });
  }

  async getHold(holdId: string): Promise<Hold> {
    const hold = await this.store.findHold(checkId("hold_id", holdId));
    if (!hold) throw notFound("hold_id", `hold ${holdId}`);
    return hold;
  }

  /**
   * Expires up to `limit` pending holds whose time is up, releasing their
   * funds. Safe to run from several instances at once (SKIP LOCKED).
   * Returns how many it expired. When none is due it costs one cheap query
   * and no transaction (over Accelerate each transaction step is an HTTP
   * round trip and a billed query), and says when the next one falls due, so
   * the job can sleep until then.
   */
  async expireHolds(limit: number): Promise<{ expired: number; nextDueAt: Date | null }> {
    const { next, now } = await this.store.nextHoldExpiry();
    if (next === null || next > now) return { expired: 0, nextDueAt: next };
    const expired = await this.store.transaction(async (tx) => {
      const { holds, now } = await tx.lockExpiredHolds(limit);
      if (holds.length === 0) return 0;
      const locked = await tx.lockAccounts(holds.flatMap((h) => [h.debitAccountId, h.creditAccountId]));
      const session = new PostingSession(locked, now);
      for (const hold of holds) session.release(hold);
      const expired = holds.map((h): Hold => ({ ...h, status: "EXPIRED", updatedAt: session.now }));
      const audit = expired.map((h) => entryOf(holdAudit("ledger.hold.expire", h, {}), SYSTEM_CONTEXT, session.now, null));
      await tx.write({ ...emptyWriteSet(), accounts: session.changedAccounts(), holds: expired, audit });
      return expired.length;
    });
    // Unknown until the next probe: it may be due already.
    return { expired, nextDueAt: null };
  }
}
