import { defineConfig } from "vitest/config";

/**
 * Two projects over one real PostgreSQL:
 * - `direct`: every test; the service reaches PostgreSQL through adapter-pg.
 * - `accelerate`: the identity, ledger and audit-coverage suites again, with
 *   the service on the Accelerate path (Prisma Client → Prisma's query-plan
 *   executor over HTTP → PostgreSQL; test/support/accelerate.ts).
 */
export default defineConfig({
  test: {
    // One real PostgreSQL for the run (DATABASE_URL, or an embedded one);
    // each test file gets its own database cloned from a migrated template.
    globalSetup: ["test/support/global-setup.ts"],
    // Files run in parallel (2 cores); each is isolated by its own database.
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      { extends: true, test: { name: "direct", include: ["test/**/*.test.ts"] } },
      {
        extends: true,
        test: {
          name: "accelerate",
          include: ["test/identity/**/*.test.ts", "test/ledger/**/*.test.ts", "test/audit/coverage.test.ts"],
          env: { TEST_DATABASE_PATH: "accelerate" },
        },
      },
    ],
  },
});
