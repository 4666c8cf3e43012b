/**
 * Reads until `done` holds or the budget runs out, then returns the last
 * value read, for the test to assert on (so a slow box fails with the value
 * it saw, not with a timeout).
 */
export async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, budgetMs = 3_000, everyMs = 25): Promise<T> {
  const end = Date.now() + budgetMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > end) return value;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
