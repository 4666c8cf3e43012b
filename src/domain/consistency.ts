/**
 * How fresh a read must be (aevon.type.v1.ReadConsistency).
 *
 * - STRONG: from the database; sees every acknowledged write. The default,
 *   and the only choice for anything read to decide a write.
 * - EVENTUAL: may come from Prisma Accelerate's cache, within the read's
 *   cache lifetime (src/store/cache-policy.ts says which reads and how long).
 */
export type ReadConsistency = "STRONG" | "EVENTUAL";
