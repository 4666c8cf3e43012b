/**
 * Rate and concurrency limits, on an injected clock (no sleeps).
 */
import { describe, expect, it } from "vitest";
import { ConcurrencyLimiter } from "../../../src/auth/concurrency.js";
import { RateLimiter } from "../../../src/auth/rate-limit.js";

function clock() {
  let t = 1_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function drain(limiter: RateLimiter, principal: string, group: "read" | "write", n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (limiter.take(principal, group).ok) ok++;
  return ok;
}

describe("RateLimiter", () => {
  it("allows a burst, then the sustained rate, and says when to retry", () => {
    const c = clock();
    const limiter = new RateLimiter({ read: { ratePerSec: 0 }, write: { ratePerSec: 10, burst: 5 }, now: c.now });
    expect(drain(limiter, "a", "write", 5)).toBe(5);
    expect(limiter.take("a", "write")).toEqual({ ok: false, retryAfterMs: 100 });
    c.advance(50);
    expect(limiter.take("a", "write")).toEqual({ ok: false, retryAfterMs: 50 });
    c.advance(50);
    expect(limiter.take("a", "write")).toEqual({ ok: true });
    expect(limiter.take("a", "write").ok).toBe(false);
    c.advance(1_000);
    expect(drain(limiter, "a", "write", 100)).toBe(5); // refills to the burst, not beyond
    c.advance(60_000);
    expect(drain(limiter, "a", "write", 100)).toBe(5);
  });

  it("keeps principals and groups apart; 0 means unlimited", () => {
    const c = clock();
    const limiter = new RateLimiter({ read: { ratePerSec: 0 }, write: { ratePerSec: 1 }, now: c.now });
    expect(limiter.take("a", "write").ok).toBe(true);
    expect(limiter.take("a", "write").ok).toBe(false);
    expect(limiter.take("b", "write").ok).toBe(true);
    expect(drain(limiter, "a", "read", 10_000)).toBe(10_000);
    const both = new RateLimiter({ read: { ratePerSec: 2, burst: 2 }, write: { ratePerSec: 1, burst: 1 }, now: c.now });
    expect(drain(both, "a", "write", 5)).toBe(1);
    expect(drain(both, "a", "read", 5)).toBe(2);
  });

  it("defaults the burst to one second's worth", () => {
    const limiter = new RateLimiter({ read: { ratePerSec: 7.5 }, write: { ratePerSec: 0.2 }, now: clock().now });
    expect(drain(limiter, "a", "read", 100)).toBe(8);
    expect(drain(limiter, "a", "write", 100)).toBe(1);
    expect(limiter.take("a", "write")).toEqual({ ok: false, retryAfterMs: 5_000 });
  });

  it("tracks at most maxPrincipals, evicting the least recently used (to within a second)", () => {
    const c = clock();
    // So slow a refill that buckets stay empty across the seconds this test steps through.
    const limiter = new RateLimiter({ read: { ratePerSec: 0.001, burst: 1 }, write: { ratePerSec: 0 }, maxPrincipals: 3, now: c.now });
    for (const p of ["a", "b", "c"]) expect(limiter.take(p, "read").ok).toBe(true);
    c.advance(1_000);
    expect(limiter.take("a", "read").ok).toBe(false); // touches a: b is now the least recently used
    expect(limiter.take("d", "read").ok).toBe(true); // evicts b
    expect(limiter.stats()).toEqual({ principals: 3, evictions: 1 });
    expect(limiter.take("a", "read").ok).toBe(false); // a was kept, its bucket still empty
    expect(limiter.take("c", "read").ok).toBe(false); // c was kept
    expect(limiter.take("b", "read").ok).toBe(true); // b was forgotten: a fresh bucket
    for (let i = 0; i < 1_000; i++) limiter.take(`p${i}`, "read");
    expect(limiter.stats().principals).toBe(3);
    // Unlimited groups never create entries.
    const unlimited = new RateLimiter({ read: { ratePerSec: 0 }, write: { ratePerSec: 0 }, now: c.now });
    for (let i = 0; i < 100; i++) unlimited.take(`p${i}`, "write");
    expect(unlimited.stats().principals).toBe(0);
  });

  it("refuses nonsense limits, naming them", () => {
    expect(() => new RateLimiter({ read: { ratePerSec: -1 }, write: { ratePerSec: 0 } })).toThrow(/read\.ratePerSec must be between 0/);
    expect(() => new RateLimiter({ read: { ratePerSec: 1 }, write: { ratePerSec: 1, burst: 0.5 } })).toThrow(/write\.burst must be an integer/);
    expect(() => new RateLimiter({ read: { ratePerSec: 1 }, write: { ratePerSec: 1 }, maxPrincipals: 0 })).toThrow(/maxPrincipals/);
  });

  it("survives a clock that steps backwards (no negative refill)", () => {
    const c = clock();
    const limiter = new RateLimiter({ read: { ratePerSec: 1, burst: 1 }, write: { ratePerSec: 0 }, now: c.now });
    expect(limiter.take("a", "read").ok).toBe(true);
    c.advance(-10_000);
    expect(limiter.take("a", "read")).toEqual({ ok: false, retryAfterMs: 1_000 });
  });
});

describe("ConcurrencyLimiter", () => {
  it("caps one principal without starving the others, and the server as a whole", () => {
    const limiter = new ConcurrencyLimiter({ maxConcurrent: 5, maxPerPrincipal: 3 });
    const noisy = [1, 2, 3].map(() => limiter.acquire("noisy"));
    expect(noisy.every((a) => a.ok)).toBe(true);
    expect(limiter.acquire("noisy")).toEqual({ ok: false, limit: "principal", max: 3 });
    const quiet = [limiter.acquire("quiet"), limiter.acquire("other")];
    expect(quiet.every((a) => a.ok)).toBe(true);
    expect(limiter.acquire("third")).toEqual({ ok: false, limit: "global", max: 5 });
    expect(limiter.inFlight()).toBe(5);
    expect(limiter.inFlight("noisy")).toBe(3);
  });

  it("frees slots on release, once per acquisition, and forgets idle principals", () => {
    const limiter = new ConcurrencyLimiter({ maxConcurrent: 2, maxPerPrincipal: 1 });
    const first = limiter.acquire("a");
    if (!first.ok) throw new Error("expected a slot");
    expect(limiter.acquire("a").ok).toBe(false);
    first.release();
    first.release(); // a second release must not free someone else's slot
    expect(limiter.inFlight()).toBe(0);
    expect(limiter.inFlight("a")).toBe(0);
    const again = limiter.acquire("a");
    expect(limiter.trackedPrincipals).toBe(1);
    const b = limiter.acquire("b");
    expect(again.ok && b.ok).toBe(true);
    expect(limiter.acquire("c")).toEqual({ ok: false, limit: "global", max: 2 });
    first.release(); // stale handle: still nothing
    expect(limiter.inFlight()).toBe(2);
  });

  it("keeps at most maxIdleTracked counters, sweeping idle ones but never busy ones", () => {
    const limiter = new ConcurrencyLimiter({ maxConcurrent: 0, maxPerPrincipal: 2, maxIdleTracked: 4 });
    const busy = limiter.acquire("busy");
    for (let i = 0; i < 100; i++) {
      const slot = limiter.acquire(`idle-${i}`);
      if (slot.ok) slot.release();
      expect(limiter.trackedPrincipals).toBeLessThanOrEqual(4);
    }
    // The busy principal's count survived every sweep: its cap still holds.
    expect(limiter.inFlight("busy")).toBe(1);
    expect(limiter.acquire("busy").ok).toBe(true);
    expect(limiter.acquire("busy")).toEqual({ ok: false, limit: "principal", max: 2 });
    if (busy.ok) busy.release();
    expect(limiter.inFlight("busy")).toBe(1);
  });

  it("treats 0 as unlimited and refuses nonsense", () => {
    const limiter = new ConcurrencyLimiter({ maxConcurrent: 0, maxPerPrincipal: 0 });
    for (let i = 0; i < 1_000; i++) expect(limiter.acquire("a").ok).toBe(true);
    expect(limiter.inFlight("a")).toBe(1_000);
    expect(() => new ConcurrencyLimiter({ maxConcurrent: -1, maxPerPrincipal: 0 })).toThrow(/maxConcurrent must be an integer/);
    expect(() => new ConcurrencyLimiter({ maxConcurrent: 1, maxPerPrincipal: 1.5 })).toThrow(/maxPerPrincipal must be an integer/);
  });
});
