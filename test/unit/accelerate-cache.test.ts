/** The Accelerate fixture's cache (test/support/accelerate-cache.ts), on a fake clock: the semantics the EVENTUAL-read tests lean on. */
import { describe, expect, it } from "vitest";
import { AccelerateCache, cacheDirective } from "../support/accelerate-cache.js";

function origin() {
  let version = 0;
  let calls = 0;
  let gate: Promise<void> = Promise.resolve();
  return {
    fetch: async () => {
      calls++;
      const v = version;
      await gate;
      return new Response(`v${v}`, { status: 200 });
    },
    bump: () => void version++,
    hold: (until: Promise<void>) => void (gate = until),
    get calls() {
      return calls;
    },
  };
}

const text = async (served: Promise<{ response: Response; status: string }>) => {
  const { response, status } = await served;
  return `${await response.text()} ${status}`;
};

describe("the Accelerate fixture's cache", () => {
  it("reads cache-control as the extension writes it", () => {
    expect(cacheDirective("max-age=60,stale-while-revalidate=30")).toEqual({ ttlMs: 60_000, swrMs: 30_000 });
    expect(cacheDirective("max-age=86400")).toEqual({ ttlMs: 86_400_000, swrMs: 0 });
    expect([cacheDirective("no-cache"), cacheDirective(null), cacheDirective("max-age=0")]).toEqual([null, null, null]);
  });

  it("serves fresh within ttl, stale within swr while refreshing, and fetches again after", async () => {
    let now = 0;
    const cache = new AccelerateCache(() => now);
    const db = origin();
    const get = () => text(cache.serve("q", "max-age=10,stale-while-revalidate=5", ["t"], db.fetch));
    expect(await get()).toBe("v0 miss");
    db.bump();
    now = 9_999;
    expect(await get()).toBe("v0 ttl");
    now = 10_000;
    expect(await get()).toBe("v0 swr"); // and refreshes behind it
    await new Promise((r) => setTimeout(r, 0));
    expect(await get()).toBe("v1 ttl");
    db.bump();
    now = 25_000;
    expect(await get()).toBe("v2 miss");
    expect(db.calls).toBe(3);
    expect(await text(cache.serve("q", "no-cache", [], db.fetch))).toBe("v2 none");
  });

  it("forgets entries by tag or all, and does not keep an answer fetched across an invalidation of its tags", async () => {
    const cache = new AccelerateCache(() => 0);
    const db = origin();
    await cache.serve("a", "max-age=60", ["user_1"], db.fetch);
    await cache.serve("b", "max-age=60", ["user_2"], db.fetch);
    cache.invalidate(["user_1", "other"]);
    expect(cache.size).toBe(1);
    cache.invalidate("all");
    expect(cache.size).toBe(0);

    let release!: () => void;
    db.hold(new Promise((r) => (release = r)));
    const inFlight = cache.serve("a", "max-age=60", ["user_1"], db.fetch);
    cache.invalidate(["user_1"]);
    release();
    expect((await inFlight).status).toBe("miss");
    expect(cache.size).toBe(0);
  });
});
