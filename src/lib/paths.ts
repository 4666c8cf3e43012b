import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The repository (or image) root: the nearest folder above this file holding
 * package.json. Source (src/lib) and build output (dist/src/lib) sit at
 * different depths, so the root is found rather than assumed.
 */
function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error("package.json not found above " + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

export const REPO_ROOT = findRoot();
/** prisma/ at the repository root (never under src/): schema.prisma and migrations/. */
export const PRISMA_DIR = path.join(REPO_ROOT, "prisma");
export const MIGRATIONS_DIR = path.join(PRISMA_DIR, "migrations");
