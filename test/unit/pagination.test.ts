/** Page tokens and page sizes (src/domain/pagination.ts). */
import { describe, expect, it } from "vitest";
import { DomainError } from "../../src/domain/errors.js";
import { decodePageToken, DEFAULT_PAGE_SIZE, encodePageToken, MAX_PAGE_SIZE, pageSize } from "../../src/domain/pagination.js";

/** The error `run` throws, which must be INVALID_ARGUMENT naming `field`. */
function refusal(run: () => unknown, field: string): DomainError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ reason: "INVALID_ARGUMENT", field });
    return error as DomainError;
  }
  throw new Error(`expected a refusal naming ${field}, got none`);
}

const filters = { status: "ACTIVE", handlePrefix: "al", createdFrom: "2026-01-01T00:00:00.000Z" };

describe("page tokens", () => {
  it("round-trip the cursor for the same filters; an empty token is the first page", () => {
    for (const cursor of ["0195f5c2-7d3a-7c4e-9a1b-2c3d4e5f6a7b", "12345", "", "ünïcode ✓ and \"quotes\""]) {
      const token = encodePageToken(cursor, filters);
      expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decodePageToken(token, { ...filters })).toBe(cursor);
    }
    expect(decodePageToken("", filters)).toBeNull();
  });

  it("refuse a token replayed with other filters, saying to start again", () => {
    const token = encodePageToken("0195f5c2-7d3a-7c4e-9a1b-2c3d4e5f6a7b", filters);
    for (const other of [{ ...filters, status: "SUSPENDED" }, { ...filters, handlePrefix: "" }, { status: "ACTIVE" }, {}, null]) {
      expect(refusal(() => decodePageToken(token, other), "page_token").message).toContain("different filters");
    }
  });

  it("refuse garbage: not base64url JSON, JSON of another shape, or a forged fingerprint", () => {
    const base64url = (text: string) => Buffer.from(text).toString("base64url");
    const { f: rightFingerprint } = JSON.parse(Buffer.from(encodePageToken("c", filters), "base64url").toString()) as { f: string };
    const garbage = [
      base64url(JSON.stringify({ c: 123, f: rightFingerprint })),
      "not a token!",
      base64url("not json"),
      base64url("[]"),
      base64url("null"),
      base64url('"a string"'),
      base64url(JSON.stringify({ c: 1, f: "x" })),
      base64url(JSON.stringify({ c: "cursor" })),
      base64url(JSON.stringify({ c: "cursor", f: "AAAAAAAAAAAAAAAA" })),
    ];
    for (const token of garbage) refusal(() => decodePageToken(token, filters), "page_token");
  });

  it("refuse an over-long token before reading it (longer than 512 characters)", () => {
    const longCursor = "x".repeat(400);
    const token = encodePageToken(longCursor, filters);
    expect(token.length).toBeGreaterThan(512);
    expect(refusal(() => decodePageToken(token, filters), "page_token").message).toContain("not a token this service issued");
    // Just under the limit is read.
    const fits = encodePageToken("x".repeat(340), filters);
    expect(fits.length).toBeLessThanOrEqual(512);
    expect(decodePageToken(fits, filters)).toBe("x".repeat(340));
  });
});

describe("page size", () => {
  it("0 means the default; 1 to the maximum are taken as asked", () => {
    expect(pageSize(0)).toBe(DEFAULT_PAGE_SIZE);
    expect([pageSize(1), pageSize(DEFAULT_PAGE_SIZE + 1), pageSize(MAX_PAGE_SIZE)]).toEqual([1, DEFAULT_PAGE_SIZE + 1, MAX_PAGE_SIZE]);
  });

  it("refuses negative, fractional, non-finite and too large sizes, naming page_size", () => {
    for (const size of [-1, MAX_PAGE_SIZE + 1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) refusal(() => pageSize(size), "page_size");
  });
});
