/**
 * The cache in front of the query-plan executor, as Accelerate keeps one: a
 * query that carries `cache-control: max-age=TTL[,stale-while-revalidate=SWR]`
 * is answered from the cache while its entry is fresh (younger than TTL),
 * answered stale and refreshed in the background while younger than
 * TTL + SWR, and fetched again after that. Entries are kept under the
 * `accelerate-cache-tags` their query carried; `POST /invalidate` forgets
 * every entry under any of the given tags (or all of them), and a fetch that
 * was under way when its tags were invalidated is not stored.
 *
 * Only what the Accelerate extension sends is modelled: queries outside
 * transactions (`POST /query`), keyed by their body (the query plan and its
 * parameters); successful answers only.
 */

/** How a query was answered: `ttl` fresh from the cache, `swr` stale from the cache, `miss` fetched and stored, `none` not cacheable. */
export type CacheStatus = "ttl" | "swr" | "miss" | "none";

interface Directive {
  ttlMs: number;
  swrMs: number;
}

interface Entry extends Directive {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
  storedAt: number;
  tags: string[];
}

/** `max-age` and `stale-while-revalidate` of a `cache-control` header, or null when it asks for no caching. */
export function cacheDirective(header: string | null): Directive | null {
  if (header === null) return null;
  let ttl = 0;
  let swr = 0;
  for (const part of header.split(",")) {
    const [name, value] = part.trim().split("=");
    if (name === "max-age") ttl = Number(value);
    if (name === "stale-while-revalidate") swr = Number(value);
  }
  if (!(Number.isFinite(ttl) && Number.isFinite(swr)) || ttl + swr <= 0) return null;
  return { ttlMs: ttl * 1000, swrMs: swr * 1000 };
}

export class AccelerateCache {
  private readonly entries = new Map<string, Entry>();
  /** Bumped by every invalidation; what each tag (and "all") was last invalidated at. */
  private invalidations = 0;
  private readonly invalidatedAt = new Map<string, number>();
  private readonly refreshing = new Set<string>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Entries held (for tests). */
  get size(): number {
    return this.entries.size;
  }

  /** Forgets every entry under any of `tags`, or every entry. */
  invalidate(tags: string[] | "all"): void {
    this.invalidations += 1;
    for (const tag of tags === "all" ? ["*"] : tags) this.invalidatedAt.set(tag, this.invalidations);
    for (const [key, entry] of this.entries) {
      if (tags === "all" || entry.tags.some((t) => tags.includes(t))) this.entries.delete(key);
    }
  }

  /** Answers `key` from the cache or through `fetch`, as its `cacheControl` and `tags` allow. */
  async serve(key: string, cacheControl: string | null, tags: string[], fetch: () => Promise<Response>): Promise<{ response: Response; status: CacheStatus }> {
    const directive = cacheDirective(cacheControl);
    if (directive === null) return { response: await fetch(), status: "none" };
    const entry = this.entries.get(key);
    const age = entry ? this.now() - entry.storedAt : Infinity;
    if (entry && age < entry.ttlMs) return { response: this.answer(entry, "ttl"), status: "ttl" };
    if (entry && age < entry.ttlMs + entry.swrMs) {
      if (!this.refreshing.has(key)) {
        this.refreshing.add(key);
        void this.fetchAndStore(key, directive, tags, fetch)
          .catch(() => undefined)
          .finally(() => this.refreshing.delete(key));
      }
      return { response: this.answer(entry, "swr"), status: "swr" };
    }
    return { response: await this.fetchAndStore(key, directive, tags, fetch), status: "miss" };
  }

  private async fetchAndStore(key: string, directive: Directive, tags: string[], fetch: () => Promise<Response>): Promise<Response> {
    const startedAt = this.invalidations;
    const response = await fetch();
    if (!response.ok) return response;
    const entry: Entry = {
      ...directive,
      status: response.status,
      headers: [...response.headers].filter(([name]) => name !== "content-length"),
      body: new Uint8Array(await response.arrayBuffer()),
      storedAt: this.now(),
      tags,
    };
    // Invalidated while it was being fetched: the answer may predate the write, so it is not kept.
    const stale = [...tags, "*"].some((t) => (this.invalidatedAt.get(t) ?? 0) > startedAt);
    if (!stale) this.entries.set(key, entry);
    return this.answer(entry, "miss");
  }

  private answer(entry: Entry, status: CacheStatus): Response {
    const headers = new Headers(entry.headers);
    headers.set("accelerate-cache-status", status);
    return new Response(entry.body.slice(), { status: entry.status, headers });
  }
}
