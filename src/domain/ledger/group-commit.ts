/**
 * Transfer's path: concurrent transfers are posted together, in ONE
 * statement per group (LedgerStore.postTransfers: a SQL function that
 * PostgreSQL runs as one transaction). Per group the fixed costs (a round
 * trip, the ORM's per-statement work, COMMIT) are paid once, and on the
 * Accelerate path a group is one HTTP request:
 *
 *   claim all keys + lock all accounts (ORDER BY id) · post each transfer in
 *   order · write all + every key's outcome          (one statement)
 *
 * Each transfer keeps its own outcome, and it is final (keyed.ts): one that
 * fails its checks (funds, status, currency, debit grants) is left out of the
 * write and its refusal is stored under its key; the others commit. Groups
 * form naturally: while one group is in the database, new requests queue for
 * the next (TRANSFER_GROUP_MAX=1 sends each transfer alone, still in one
 * statement). A key is never in two groups at once (a retry waits for the
 * group holding its key), so two groups cannot deadlock on keys; accounts are
 * locked in id order. Groups in the database at once share no account
 * (a transfer whose account is held waits for a later group), so they run
 * side by side instead of queueing on each other's row locks.
 *
 * Bounds: at most `maxQueued` transfers wait (more are refused, retryable);
 * a transfer whose caller has gone leaves the queue at once and is never
 * sent. If a group's statement fails for a reason one request can cause (a
 * constraint), its transfers are re-run one by one, each in its own
 * transaction (`single`), so a bad request cannot fail its neighbours; an
 * infrastructure failure (database down, too slow, conflicts persisting)
 * fails the group as it is, at once.
 */
import { uuidv7 } from "../../lib/ids.js";
import { debitGrantsOf } from "../call.js";
import { DomainError, ErrorReason } from "../errors.js";
import { outcomeOf, type Idempotency, type IdempotencyClaim, type Outcome } from "../idempotency.js";
import type { Observer } from "../observer.js";
import type { TransferCommand } from "./commands.js";
import type { LedgerStore, MemberOutcome } from "./ports.js";
import type { Transfer } from "./types.js";

export interface GroupCommitOptions {
  /** Most transfers in one transaction. Default 64 (one client's typical in-flight window). */
  maxSize: number;
  /** Groups in the database at once. Default 2: one being written while the next forms. */
  maxConcurrent: number;
  /**
   * Most transfers waiting for a group. Default 1024: several groups' worth,
   * so a burst is absorbed but a flood is refused (UNAVAILABLE, with a retry
   * delay) instead of queueing without bound.
   */
  maxQueued?: number;
  /** Told each group's size and its members' queue waits (metrics). Default: nobody. */
  observer?: Observer;
}

interface Pending {
  cmd: TransferCommand;
  idem: Idempotency<Transfer>;
  keyId: string;
  resolve: (outcome: Outcome<Transfer>) => void;
  reject: (error: unknown) => void;
  /** Stops watching the caller's signal once the transfer leaves the queue. */
  unwatch: () => void;
  /** When it joined the queue (performance.now(), ms). */
  queuedAt: number;
}

type Result = { outcome: Outcome<Transfer> } | { error: unknown };

const keyIdOf = (claim: IdempotencyClaim) => `${claim.scope}\u0000${claim.key}`;

/** How long a refused caller should wait before retrying, when the queue is full. */
const QUEUE_FULL_RETRY_MS = 50;

export class TransferGroups {
  private readonly queue: Pending[] = [];
  private readonly keysInFlight = new Set<string>();
  /** Accounts of the groups in the database: concurrent groups share none, so they never wait on each other's locks. */
  private readonly accountsInFlight = new Map<string, number>();
  private readonly maxQueued: number;
  private running = 0;

  constructor(
    private readonly store: LedgerStore,
    private readonly options: GroupCommitOptions,
    /** The one-transfer path, for the fallback. */
    private readonly single: (cmd: TransferCommand, idem: Idempotency<Transfer>) => Promise<Outcome<Transfer>>,
  ) {
    this.maxQueued = options.maxQueued ?? 1024;
  }

  /** Transfers waiting for a group (for metrics and tests). */
  get queued(): number {
    return this.queue.length;
  }

  submit(cmd: TransferCommand, idem: Idempotency<Transfer>): Promise<Outcome<Transfer>> {
    return new Promise((resolve, reject) => {
      const signal = idem.context.signal;
      if (signal?.aborted) return reject(signal.reason);
      if (this.queue.length >= this.maxQueued) {
        return reject(
          new DomainError(ErrorReason.OVERLOADED, "too many transfers are waiting; retry shortly", undefined, {}, { retryAfterMs: QUEUE_FULL_RETRY_MS }),
        );
      }
      const pending: Pending = { cmd, idem, keyId: keyIdOf(idem.claim), resolve, reject, unwatch: () => undefined, queuedAt: performance.now() };
      if (signal) {
        // A caller who leaves frees its place at once: the queue holds only transfers someone waits for.
        const onAbort = () => {
          const at = this.queue.indexOf(pending);
          if (at < 0) return;
          this.queue.splice(at, 1);
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        pending.unwatch = () => signal.removeEventListener("abort", onAbort);
      }
      this.queue.push(pending);
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.options.maxConcurrent && this.queue.length > 0) {
      const group: Pending[] = [];
      const keys = new Set<string>();
      for (let i = 0; i < this.queue.length && group.length < this.options.maxSize; ) {
        const p = this.queue[i]!;
        const signal = p.idem.context.signal;
        if (signal?.aborted) {
          // Its caller has gone: it never reaches the database.
          this.queue.splice(i, 1);
          p.unwatch();
          p.reject(signal.reason);
          continue;
        }
        if (this.keysInFlight.has(p.keyId) || keys.has(p.keyId)) {
          i++; // its key is busy: it waits for a later group
          continue;
        }
        if (this.accountsInFlight.has(p.cmd.debitAccountId) || this.accountsInFlight.has(p.cmd.creditAccountId)) {
          i++; // a group in the database holds its account: it waits, rather than make this group wait on the lock
          continue;
        }
        keys.add(p.keyId);
        group.push(p);
        this.queue.splice(i, 1);
        p.unwatch();
      }
      if (group.length === 0) return;
      if (this.options.observer) {
        const now = performance.now();
        this.options.observer.transferGroupStarted(group.length, group.map((p) => (now - p.queuedAt) / 1000));
      }
      for (const k of keys) this.keysInFlight.add(k);
      const accounts = group.flatMap((p) => [p.cmd.debitAccountId, p.cmd.creditAccountId]);
      for (const a of accounts) this.accountsInFlight.set(a, (this.accountsInFlight.get(a) ?? 0) + 1);
      this.running++;
      void this.run(group).finally(() => {
        for (const k of keys) this.keysInFlight.delete(k);
        for (const a of accounts) {
          const left = this.accountsInFlight.get(a)! - 1;
          if (left === 0) this.accountsInFlight.delete(a);
          else this.accountsInFlight.set(a, left);
        }
        this.running--;
        this.pump();
      });
    }
  }

  private async run(group: Pending[]): Promise<void> {
    let results: Result[];
    try {
      results = await this.commit(group);
    } catch (error) {
      if (group.length === 1 || isInfrastructureFailure(error)) {
        results = group.map(() => ({ error }));
      } else {
        // Isolate whatever broke the group: each transfer on its own.
        results = await Promise.all(
          group.map((p) => this.single(p.cmd, p.idem).then((outcome): Result => ({ outcome }), (e: unknown): Result => ({ error: e }))),
        );
      }
    }
    group.forEach((p, i) => {
      const r = results[i]!;
      if ("error" in r) p.reject(r.error);
      else p.resolve(r.outcome);
    });
  }

  /**
   * The group in one statement: the database claims, locks, posts and
   * writes every member, and decides each one's outcome (stored under its
   * key). Members whose callers have gone are left out before it is sent.
   */
  private async commit(group: Pending[]): Promise<Result[]> {
    const results: Result[] = new Array(group.length);
    const sent: { p: Pending; i: number }[] = [];
    for (const [i, p] of group.entries()) {
      const signal = p.idem.context.signal;
      if (signal?.aborted) results[i] = { error: signal.reason };
      else sent.push({ p, i });
    }
    if (sent.length === 0) return results;
    const outcomes = await this.store.postTransfers(
      sent[0]!.p.idem.claim.scope,
      sent.map(({ p }) => ({
        claim: p.idem.claim,
        id: uuidv7(),
        leg: p.cmd,
        debitGrants: debitGrantsOf(p.idem.context.mayDebit),
        context: p.idem.context,
      })),
    );
    outcomes.forEach((outcome, n) => {
      const { p, i } = sent[n]!;
      results[i] = resultOf(outcome, p.idem);
    });
    return results;
  }
}

/** One member's answer: what the database decided, encoded the way a replay will encode it again. */
function resultOf(outcome: MemberOutcome, idem: Idempotency<Transfer>): Result {
  switch (outcome.kind) {
    case "new":
      return { outcome: { result: outcome.transfer } };
    case "refused":
      return { outcome: { refusal: idem.refuse(outcome.error) } };
    case "stored":
      return { outcome: outcomeOf(outcome.stored, idem) };
    case "reused":
      return {
        error: new DomainError(ErrorReason.IDEMPOTENCY_KEY_REUSED, "idempotency_key was already used for a different request", "idempotency_key"),
      };
  }
}

/** Failures no single request causes (database down, too slow, conflicts persisting): one by one would only repeat them. */
function isInfrastructureFailure(error: unknown): boolean {
  return error instanceof DomainError && (error.category === "UNAVAILABLE" || error.reason === ErrorReason.RETRIES_EXHAUSTED);
}
