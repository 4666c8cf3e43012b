/**
 * The scrape-time ledger gauges: a database read that fails makes its
 * gauges NaN (or absent) in that scrape and counts the error, and never fails the
 * scrape; the posted sums are reused for POSTED_SUMS_MAX_AGE_MS.
 */
import { pino } from "pino";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { addLedgerGauges, POSTED_SUMS_MAX_AGE_MS, type LedgerReads } from "../../../src/server/metrics/ledger-gauges.js";
import { parseExposition, find, value } from "../../support/metrics.js";

const silent = pino({ level: "silent" });
const backlog = {
  now: new Date("2026-12-01T12:00:10Z"),
  unsealedCount: 3n,
  oldestUnsealed: new Date("2026-12-01T12:00:08Z"),
  overdueHolds: 0n,
  oldestOverdue: null,
};

describe("ledger gauges", () => {
  it("derive the lags from the database's clock", async () => {
    const registry = new Registry();
    addLedgerGauges(registry, { backlog: async () => backlog, postedSums: async () => [{ currency: "USD", posted: "0" }] }, silent);
    const samples = parseExposition(await registry.metrics());
    expect(value(samples, "ledger_audit_unsealed_events")).toBe(3);
    expect(value(samples, "ledger_audit_seal_lag_seconds")).toBe(2);
    expect(find(samples, "ledger_hold_expiry_lag_seconds")[0]?.value).toBe(0);
    expect(find(samples, "ledger_posted_sum", { currency: "USD" })).toHaveLength(1);
  });

  it("leave out what a failed read would have said, count it, and still answer", async () => {
    const registry = new Registry();
    const reads: LedgerReads = {
      backlog: () => Promise.reject(new Error("connection refused")),
      postedSums: () => Promise.reject(new Error("statement timeout")),
    };
    addLedgerGauges(registry, reads, silent);
    const samples = parseExposition(await registry.metrics());
    // Unknown, not zero: a failed read must not look like an empty backlog.
    expect(value(samples, "ledger_audit_unsealed_events")).toBeNaN();
    expect(value(samples, "ledger_hold_expiry_lag_seconds")).toBeNaN();
    expect(find(samples, "ledger_posted_sum")).toHaveLength(0);
    expect(value(samples, "ledger_metrics_scrape_errors_total", { source: "backlog" })).toBe(1);
    expect(value(samples, "ledger_metrics_scrape_errors_total", { source: "posted_sums" })).toBe(1);
  });

  it("read the posted sums again only once they are old", async () => {
    let now = 0;
    let reads = 0;
    const registry = new Registry();
    addLedgerGauges(registry, { backlog: async () => backlog, postedSums: async () => [{ currency: "USD", posted: String(++reads) }] }, silent, () => now);
    await registry.metrics();
    now += POSTED_SUMS_MAX_AGE_MS - 1;
    expect(value(parseExposition(await registry.metrics()), "ledger_posted_sum", { currency: "USD" })).toBe(1);
    now += 2;
    expect(value(parseExposition(await registry.metrics()), "ledger_posted_sum", { currency: "USD" })).toBe(2);
  });
});
