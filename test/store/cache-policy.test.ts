/** The cache policy's own rules, apart from any query: lifetimes, tags and their limits, the settle horizon. */
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/lib/config.js";
import { createPrisma } from "../../src/lib/prisma.js";
import { CachePolicy, cacheTag, staleTags } from "../../src/store/cache-policy.js";

// A client is needed to build the policy; these tests never query through it.
const db = createPrisma({ url: "postgresql://postgres@127.0.0.1:1/unused" });
const NOW = Date.parse("2026-11-29T12:00:00Z");
const policy = (env: Record<string, string> = {}) =>
  new CachePolicy(db, { active: true, lifetimes: loadConfig(env).cacheLifetimes, settleHorizonMs: 60_000, now: () => NOW });
const USER = "0195f5c2-7d3a-7c4e-9a1b-2c3d4e5f6a7b";

describe("read directives", () => {
  it("EVENTUAL gets the kind's lifetime and tag; STRONG gets nothing", () => {
    expect(policy().userById(USER, "EVENTUAL")).toEqual({ cacheStrategy: { ttl: 60, swr: 60, tags: ["user_0195f5c27d3a7c4e9a1b2c3d4e5f6a7b"] } });
    expect(policy().userById(USER, "STRONG")).toEqual({});
  });

  it("a ttl of 0 turns a kind off; a swr of 0 is left out", () => {
    expect(policy({ CACHE_BALANCE_TTL_SECONDS: "0" }).account(USER, "EVENTUAL")).toEqual({});
    expect(policy().historyUntil(new Date(NOW - 120_000))).toEqual({ cacheStrategy: { ttl: 86_400 } });
  });

  it("history is final only once older than the settle horizon", () => {
    expect(policy().historyUntil(new Date(NOW - 60_000))).toEqual({ cacheStrategy: { ttl: 86_400 } });
    expect(policy().historyUntil(new Date(NOW - 59_999))).toEqual({});
    expect(policy().historyUntil(undefined)).toEqual({});
  });
});

describe("tags", () => {
  it("stay inside Accelerate's alphabet and length, whatever the key", () => {
    const tags = [
      cacheTag.user(USER),
      cacheTag.handle("a_b9"),
      cacheTag.externalIdentity("https://accounts.example.com/o/oauth2", "sub|with spaces and ünïcode".repeat(20)),
      cacheTag.account(USER),
      cacheTag.transfer(USER),
    ];
    for (const tag of tags) expect(tag).toMatch(/^[A-Za-z0-9_]{1,64}$/);
  });

  it("refuse to be built from a key outside the alphabet", () => {
    expect(() => cacheTag.handle("not-a-handle")).toThrow(/assertion failed/);
  });

  it("a user's change covers every lookup before and after it", () => {
    const before = { id: USER, handle: "old", externalIdentities: [{ provider: "p", subject: "s" }] };
    const after = { id: USER, handle: "new", externalIdentities: [] };
    expect(new Set(staleTags.user(before, after))).toEqual(
      new Set([cacheTag.user(USER), "users_batch", "handle_old", "handle_new", cacheTag.externalIdentity("p", "s")]),
    );
    // A new user: only lookups that may have cached "not found".
    expect(staleTags.user(null, after)).toEqual(["handle_new"]);
  });
});
