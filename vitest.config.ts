import { configDefaults, defineConfig } from "vitest/config";

/**
 * One real PostgreSQL for the run (DATABASE_URL, or an embedded one); each
 * test file gets its own database cloned from a migrated template. Only the
 * projects that talk to PostgreSQL run this setup.
 */
const database = { globalSetup: ["test/support/global-setup.ts"] };

/**
 * Three projects:
 * - `unit`: the pure core (test/unit/): no PostgreSQL at all, so no global
 *   setup (`npm run test:unit`, or `vitest run --project unit`).
 * - `direct`: every other test; the service reaches PostgreSQL through adapter-pg.
 * - `accelerate`: the identity, ledger, audit-coverage and index-only suites again, with
 *   the service on the Accelerate path (Prisma Client → Prisma's query-plan
 *   executor over HTTP → PostgreSQL; test/support/accelerate.ts).
 */
export default defineConfig({
  test: {
    // Files run in parallel (2 cores); each is isolated by its own database.
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      { extends: true, test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      { extends: true, test: { ...database, name: "direct", include: ["test/**/*.test.ts"], exclude: [...configDefaults.exclude, "test/unit/**"] } },
      {
        extends: true,
        test: {
          ...database,
          name: "accelerate",
          include: ["test/identity/**/*.test.ts", "test/ledger/**/*.test.ts", "test/audit/coverage.test.ts", "test/store/index-only.test.ts"],
          env: { TEST_DATABASE_PATH: "accelerate" },
        },
      },
    ],
  },
});
