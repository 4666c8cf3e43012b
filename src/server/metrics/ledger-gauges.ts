/**
 * Gauges read from the database when Prometheus scrapes: the audit sealer's
 * and the hold expiry's backlog, and the posted sum per currency. Only the
 * process that runs the background jobs keeps them (one per cluster), so a
 * cluster's aggregate counts each once.
 *
 * A scrape never waits more than SCRAPE_DB_TIMEOUT_MS for them, never runs
 * two reads at once (a slow read is shared by the scrapes that meet it), and
 * a failed read gives NaN for the backlog gauges and leaves the posted sums
 * out, and counts `ledger_metrics_scrape_errors_total`: it never fails the
 * scrape or the process. The posted sums read every account row, so they are
 * refreshed at most every POSTED_SUMS_MAX_AGE_MS.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { Logger } from "pino";
import type { Backlog } from "../../store/backlog-store.js";

/** Longest a scrape waits for the database reads. 2 s: well inside Prometheus' default 10 s scrape timeout. */
export const SCRAPE_DB_TIMEOUT_MS = 2_000;
/** How long the posted sums are reused before they are read again. 30 s: a few scrapes; the sum read scans the accounts. */
export const POSTED_SUMS_MAX_AGE_MS = 30_000;

export interface LedgerReads {
  backlog(): Promise<Backlog>;
  postedSums(): Promise<{ currency: string; posted: string }[]>;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** One read at a time: callers while one runs share it. */
function singleFlight<T>(read: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  return () => (running ??= read().finally(() => (running = undefined)));
}

export function addLedgerGauges(registry: Registry, reads: LedgerReads, logger: Logger, now: () => number = Date.now): void {
  const registers = [registry];
  const failed = (source: string, err: unknown) => {
    errors.inc({ source });
    logger.warn({ err, source }, "metrics: database read failed");
  };

  const backlog = singleFlight(reads.backlog);
  // Each scrape collects the backlog gauges one after another: the first read is shared by the rest.
  let current: { at: number; value: Promise<Backlog | undefined> } | undefined;
  const readBacklog = (): Promise<Backlog | undefined> => {
    if (!current || now() - current.at > 1_000) {
      current = {
        at: now(),
        value: withTimeout(backlog(), SCRAPE_DB_TIMEOUT_MS, "backlog read").catch((err: unknown) => {
          failed("backlog", err);
          return undefined;
        }),
      };
    }
    return current.value;
  };

  const postedSums = singleFlight(reads.postedSums);
  /** The last sums read (undefined after a failed read), and when. */
  let sums: { at: number; rows: { currency: string; posted: string }[] | undefined } | undefined;
  let refreshing: Promise<void> | undefined;
  const refreshSums = (): Promise<void> => {
    if (sums && now() - sums.at <= POSTED_SUMS_MAX_AGE_MS) return Promise.resolve();
    return (refreshing ??= withTimeout(postedSums(), SCRAPE_DB_TIMEOUT_MS, "posted sums read")
      .then(
        (rows) => void (sums = { at: now(), rows }),
        (err: unknown) => {
          sums = undefined; // read again at the next scrape
          failed("posted_sums", err);
        },
      )
      .finally(() => (refreshing = undefined)));
  };

  const errors = new Counter({
    name: "ledger_metrics_scrape_errors_total",
    help: "Scrape-time database reads that failed or timed out (their gauges are then NaN or absent in that scrape), by source.",
    labelNames: ["source"],
    registers,
    // This scrape's reads first, so a failure is counted in the scrape it spoiled.
    async collect() {
      await Promise.all([readBacklog(), refreshSums()]);
    },
  });
  errors.inc({ source: "backlog" }, 0);
  errors.inc({ source: "posted_sums" }, 0);

  const backlogGauge = (name: string, help: string, value: (b: Backlog) => number) =>
    new Gauge({
      name,
      help,
      registers,
      async collect() {
        const b = await readBacklog();
        // NaN, not 0, when unknown: a failed read must not look like an empty backlog.
        this.set(b ? value(b) : Number.NaN);
      },
    });
  const ageSeconds = (b: Backlog, at: Date | null) => (at ? Math.max(0, (b.now.getTime() - at.getTime()) / 1000) : 0);
  backlogGauge("ledger_audit_unsealed_events", "Audit events committed and not yet sealed into the hash chain.", (b) => Number(b.unsealedCount));
  backlogGauge("ledger_audit_seal_lag_seconds", "Age of the oldest unsealed audit event (0 when none waits).", (b) => ageSeconds(b, b.oldestUnsealed));
  backlogGauge("ledger_holds_overdue", "Pending holds past their expiry, not yet released by the expiry job.", (b) => Number(b.overdueHolds));
  backlogGauge("ledger_hold_expiry_lag_seconds", "How long the earliest overdue pending hold has been past its expiry (0 when none).", (b) =>
    ageSeconds(b, b.oldestOverdue),
  );

  new Gauge({
    name: "ledger_posted_sum",
    help: "Sum of every account's posted balance per currency, in minor units: 0 when the books balance (alert on anything else).",
    labelNames: ["currency"],
    registers,
    async collect() {
      await refreshSums();
      this.reset();
      for (const { currency, posted } of sums?.rows ?? []) this.set({ currency }, Number(posted));
    },
  });
}
