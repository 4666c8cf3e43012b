import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // One real PostgreSQL for the run (DATABASE_URL, or an embedded one);
    // each test file gets its own database cloned from a migrated template.
    globalSetup: ["test/support/global-setup.ts"],
    // Files run in parallel (2 cores); each is isolated by its own database.
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
