import { describe, expect, it } from "vitest";
import { clipUtf8 } from "../../../src/rpc/clip.js";

describe("clipUtf8", () => {
  it("keeps a text that fits, whatever its characters", () => {
    expect(clipUtf8("abc", 3)).toBe("abc");
    expect(clipUtf8("ééé", 6)).toBe("ééé");
  });

  it("cuts at a character boundary, within the budget, and says so with …", () => {
    for (const [text, max] of [["a".repeat(1000), 256], ["é".repeat(1000), 256], ["😀".repeat(1000), 256], ["a😀".repeat(300), 100]] as const) {
      const cut = clipUtf8(text, max);
      expect(cut.endsWith("…")).toBe(true);
      expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(max);
      expect(Buffer.byteLength(cut)).toBeGreaterThan(max - 7);
      const kept = cut.slice(0, -1);
      expect(text.startsWith(kept)).toBe(true);
      expect(/[\uD800-\uDBFF]$/.test(kept)).toBe(false); // no half of a surrogate pair
    }
  });
});
