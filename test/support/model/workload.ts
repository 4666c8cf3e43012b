/**
 * Runs the model workload: `workers` concurrent clients issue generated
 * operations, each under its own idempotency key, until `maxOps` or
 * `budgetMs`. An unknown outcome (deadline, UNAVAILABLE, …) is re-sent with
 * the same key and payload, to another live target when there are several,
 * until the key's outcome is decided. Some decided keys are replayed (same
 * answer required) or re-sent with a changed payload (IDEMPOTENCY_KEY_REUSED
 * required); some first attempts get a short deadline; some go out twice at
 * once. Every mismatch is recorded as a problem with the accounts involved.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { reasonOf } from "../ledger.js";
import { isUnknownOutcome, newCounts, ReferenceModel, type Counts, type Final, type OpRecord } from "./history.js";
import { generateOp, type Op, type Target, type World } from "./ops.js";
import type { Rng } from "./rng.js";

export interface Problem {
  message: string;
  accounts: string[];
  users: string[];
}

export interface WorkloadOptions {
  rng: Rng;
  targets: Target[];
  /** Concurrent clients. */
  workers: number;
  /** Operations in all. */
  maxOps: number;
  /** Wall-clock bound: no operation starts after it. */
  budgetMs: number;
  /** Key prefix, unique per run. */
  prefix: string;
  /** Attempts per key before the run gives up on it (it stays unresolved). */
  maxAttempts?: number;
}

export interface Run {
  ops: OpRecord[];
  model: ReferenceModel;
  counts: Counts;
  problems: Problem[];
}

/** Canonical JSON of a reply, to compare replays byte for byte (bigints as strings). */
const canonical = (reply: unknown) => JSON.stringify(reply, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));

function finalOf(error: ConnectError): Final {
  return { ok: false, code: Code[error.code], reason: reasonOf(error), message: error.rawMessage };
}

const same = (a: Final, b: Final) => JSON.stringify(a) === JSON.stringify(b);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The codes a decided key may answer with in this workload (anything else is a problem). */
const DECIDED = new Set(["FailedPrecondition", "NotFound", "OutOfRange"]);

export class Workload {
  readonly run: Run = { ops: [], model: new ReferenceModel(), counts: newCounts(), problems: [] };
  private readonly options: WorkloadOptions;
  private next = 0;
  /** The accounts and users to play with: set once set-up has made them. */
  world?: World;

  constructor(options: WorkloadOptions) {
    this.options = options;
  }

  problem(message: string, accounts: string[] = [], users: string[] = []): void {
    this.run.problems.push({ message, accounts, users });
  }

  private pickTarget(avoid?: string): Target {
    const live = this.options.targets.filter((t) => t.alive);
    if (live.length === 0) throw new Error("no live target left");
    const others = live.filter((t) => t.name !== avoid);
    return this.options.rng.pick(others.length > 0 ? others : live);
  }

  /** One attempt; returns the final outcome, or undefined when it is unknown. */
  private async attempt(op: Op, record: OpRecord, target: Target, send: "same" | "changed", shortDeadlineMs?: number): Promise<{ final?: Final; reply?: unknown }> {
    const c = this.run.counts;
    c.attempts++;
    if (shortDeadlineMs !== undefined) c.shortDeadlines++;
    const options = { timeoutMs: shortDeadlineMs ?? 10_000 };
    try {
      const reply = await (send === "same" ? op.send(target, record.key, options) : op.sendChanged(target, record.key, options));
      record.attempts.push({ target: target.name, shortDeadlineMs, answer: "OK" });
      return { final: { ok: true, json: canonical(reply) }, reply };
    } catch (e) {
      const error = ConnectError.from(e);
      const reason = reasonOf(error);
      record.attempts.push({ target: target.name, shortDeadlineMs, answer: `${Code[error.code]}${reason ? `/${reason}` : ""}` });
      if (isUnknownOutcome(error.code, reason)) {
        c.unknownOutcomes++;
        return {};
      }
      return { final: finalOf(error) };
    }
  }

  /** Sends until decided (or out of attempts); the first attempt may have a short deadline. */
  private async resolve(op: Op, record: OpRecord, firstShort?: number, firstTarget?: Target): Promise<{ final?: Final; reply?: unknown }> {
    const max = this.options.maxAttempts ?? 30;
    let target = firstTarget ?? this.pickTarget();
    for (let i = 0; i < max; i++) {
      const result = await this.attempt(op, record, target, "same", i === 0 ? firstShort : undefined);
      if (result.final) return result;
      this.run.counts.retries++;
      await sleep(Math.min(20 * 2 ** Math.min(i, 5), 500));
      target = this.pickTarget(target.name);
    }
    return {};
  }

  private async one(worker: number): Promise<void> {
    const { rng, prefix } = this.options;
    const { model, counts } = this.run;
    const op = generateOp(rng, this.world!, model);
    const record: OpRecord = {
      n: this.next++,
      worker,
      kind: op.kind,
      key: `${prefix}-${op.kind}-${this.next}`,
      accounts: op.accounts,
      users: op.users,
      summary: op.summary,
      attempts: [],
    };
    this.run.ops.push(record);
    counts.operations++;
    const short = rng.chance(0.1) ? rng.int(1, 25) : undefined;
    const race = rng.chance(0.04);
    let outcome: { final?: Final; reply?: unknown };
    if (race) {
      counts.races++;
      const [a, b] = await Promise.all([this.resolve(op, record, short, this.pickTarget()), this.resolve(op, record, undefined, this.pickTarget())]);
      if (a.final && b.final && !same(a.final, b.final)) this.problem(`key ${record.key}: two concurrent attempts answered differently`, op.accounts, op.users);
      outcome = a.final ? a : b;
    } else {
      outcome = await this.resolve(op, record, short);
    }
    if (!outcome.final) {
      counts.unresolved++;
      return;
    }
    record.final = outcome.final;
    if (outcome.final.ok) {
      counts.succeeded++;
      op.apply(model, outcome.reply);
    } else {
      counts.refused++;
      const why = outcome.final.reason ?? outcome.final.code;
      counts.refusals[why] = (counts.refusals[why] ?? 0) + 1;
      if (!DECIDED.has(outcome.final.code)) this.problem(`key ${record.key}: unexpected final answer ${outcome.final.code}/${why}: ${outcome.final.message}`, op.accounts, op.users);
    }
    // A decided key answers the same for ever: replay some (always after a short deadline).
    if (short !== undefined || rng.chance(0.08)) {
      counts.replays++;
      const again = await this.resolve(op, record);
      if (again.final && !same(again.final, outcome.final)) {
        this.problem(`key ${record.key}: replay answered ${JSON.stringify(again.final).slice(0, 300)}, first outcome was ${JSON.stringify(outcome.final).slice(0, 300)}`, op.accounts, op.users);
      }
    }
    if (rng.chance(0.05)) {
      counts.reusedKeyProbes++;
      for (let i = 0; i < 10; i++) {
        const probe = await this.attempt(op, record, this.pickTarget(), "changed");
        if (!probe.final) continue;
        const f = probe.final;
        if (f.ok || f.code !== "AlreadyExists" || f.reason !== "IDEMPOTENCY_KEY_REUSED") {
          this.problem(`key ${record.key}: a changed payload was answered ${f.ok ? "OK" : `${f.code}/${f.reason}`}, not IDEMPOTENCY_KEY_REUSED`, op.accounts, op.users);
        }
        break;
      }
    }
  }

  /** Runs one operation outside the random mix (set-up), to completion; throws when it is refused. */
  async must<T>(op: Op): Promise<T> {
    const record: OpRecord = { n: this.next++, worker: -1, kind: op.kind, key: `${this.options.prefix}-setup-${this.next}`, accounts: op.accounts, users: op.users, summary: op.summary, attempts: [] };
    this.run.ops.push(record);
    const outcome = await this.resolve(op, record);
    if (!outcome.final?.ok) throw new Error(`set-up ${op.kind} failed: ${JSON.stringify(outcome.final)}`);
    record.final = outcome.final;
    op.apply(this.run.model, outcome.reply);
    return outcome.reply as T;
  }

  /** Runs the workers to the end of the budget; resolves with what was seen. */
  async drive(): Promise<Run> {
    const { workers, maxOps, budgetMs } = this.options;
    const end = Date.now() + budgetMs;
    let started = 0;
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        while (started < maxOps && Date.now() < end) {
          started++;
          await this.one(w);
        }
      }),
    );
    return this.run;
  }
}
