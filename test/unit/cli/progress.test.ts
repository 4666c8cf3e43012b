/** The CLI's progress display: a bar redrawn in place on a terminal, plain throttled lines elsewhere; always on its own stream. */
import { describe, expect, it } from "vitest";
import { Progress } from "../../../src/cli/progress.js";

function stream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, target: { isTTY, columns: 60, write: (chunk: string) => writes.push(chunk) } };
}

describe("progress", () => {
  it("on a terminal redraws one bar in place, at most every 100 ms, and clears it when done", () => {
    const { writes, target } = stream(true);
    let now = 0;
    const progress = new Progress("reconcile", { unit: "accounts", stream: target, now: () => now });
    progress.update(5n, 10n);
    progress.update(6n, 10n); // same instant: not redrawn
    now = 100;
    progress.update(10n, 10n);
    progress.finish();
    // 60 columns: "reconcile", " [", the bar, "]", " 100% 10/10 accounts" and a spare column; the bar keeps its width.
    expect(writes).toEqual([
      `\r\x1b[2Kreconcile [${"#".repeat(14)}${"-".repeat(13)}]  50% 5/10 accounts`,
      `\r\x1b[2Kreconcile [${"#".repeat(27)}] 100% 10/10 accounts`,
      "\r\x1b[2K",
    ]);
    expect(writes.join("")).not.toContain("\n");
  });

  it("elsewhere prints a plain line per interval, without percent when the total is unknown", () => {
    const { writes, target } = stream(false);
    let now = 0;
    const progress = new Progress("verify-audit", { unit: "links", stream: target, plainIntervalMs: 1_000, now: () => now });
    progress.update(1_000n, 50_000n);
    now = 999;
    progress.update(2_000n, 50_000n);
    now = 1_999;
    progress.update(3_000n, 0n);
    progress.finish();
    expect(writes).toEqual(["verify-audit: 1,000/50,000 links (2%)\n", "verify-audit: 3,000 links\n"]);
  });
});
