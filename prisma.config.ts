// Prisma CLI configuration (Prisma 7). The schema and its migrations live in
// prisma/ at the repository root; nothing here points under src/.
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  // Only the native-engine CLI commands read this (e.g. `prisma migrate deploy`
  // where that engine is available). The service itself never does.
  datasource: { url: process.env.DIRECT_DATABASE_URL || process.env.DATABASE_URL || "" },
});
