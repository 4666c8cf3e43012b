/**
 * Seeds the fixture through the service's public API only, so schema changes
 * never break it: N users (CreateUser; each gets its default wallet), the
 * wallets funded from the issuance account of their currency with
 * TransferBatch, 100 legs per call, several calls in flight.
 */
import { randomBytes } from "node:crypto";
import { IdentityService } from "../../src/gen/aevon/identity/v1/identity_pb.js";
import { LedgerService, SystemAccount } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import type { CallError, Connections } from "./client.js";
import type { Fixture } from "./template.js";

export interface SeedOptions {
  /** Users, hence funded wallets. */
  accounts: number;
  /** Distinguishes sets seeded in one database (handles, keys). Lower case letters only. */
  label: string;
  /** Minor units per wallet. Default 10^12: no benchmark run can drain it with amount-1 transfers. */
  fundingMinor?: bigint;
  /** CreateUser calls in flight. Default 32. */
  createInFlight?: number;
  /** TransferBatch calls in flight. Default 48 (32–64: they all debit the issuance row). */
  fundInFlight?: number;
  log: (line: string) => void;
}

/** Legs per TransferBatch: the service's limit. */
export const MAX_LEGS = 100;

/** Runs `fn` over `items` with at most `limit` at once; rejects on the first failure. */
export async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const lane = async () => {
    while (failed === undefined && next < items.length) {
      const i = next++;
      try {
        await fn(items[i]!, i);
      } catch (error) {
        failed ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failed !== undefined) throw failed;
}

/** Attempts per seeding call. The calls carry idempotency keys, so a retry never creates or pays twice. */
export const SEED_ATTEMPTS = 5;
const RETRYABLE = new Set(["UNAVAILABLE", "ABORTED", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"]);

async function retried<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const code = ((error as Error).cause as CallError | undefined)?.code;
      if (attempt >= SEED_ATTEMPTS || code === undefined || !RETRYABLE.has(code)) throw error;
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  }
}

function progress(log: (line: string) => void, what: string, total: number) {
  let done = 0;
  let lastLog = performance.now();
  const t0 = lastLog;
  return () => {
    done++;
    const now = performance.now();
    if (now - lastLog > 5_000 || done === total) {
      lastLog = now;
      log(`  ${what}: ${done}/${total} (${((done / (now - t0)) * 1000).toFixed(0)}/s)`);
    }
  };
}

export async function seedFixture(conn: Connections, options: SeedOptions): Promise<Fixture> {
  const { accounts: n, label, log } = options;
  const funding = options.fundingMinor ?? 10n ** 12n;
  const tag = randomBytes(3).toString("hex");
  const users = new Array<string>(n);
  const wallets = new Array<string>(n);

  const created = progress(log, `CreateUser (${label})`, n);
  await inParallel(users, options.createInFlight ?? 32, async (_, i) => {
    const { user } = await retried(() =>
      conn.call(IdentityService.method.createUser, {
        idempotencyKey: `bench-seed-${tag}-${label}-user-${i}`,
        handle: `b${tag}_${label}${i}`,
        displayName: `bench ${label} ${i}`,
      }),
    );
    if (!user?.id || !user.defaultAccountId) throw new Error("CreateUser returned no user id or default_account_id");
    users[i] = user.id;
    wallets[i] = user.defaultAccountId;
    created();
  });

  const { account } = await retried(() => conn.call(LedgerService.method.getAccount, { accountId: wallets[0]! }));
  const currency = account?.currency;
  if (!currency) throw new Error("GetAccount of a new wallet returned no currency");
  const { accounts: issuers } = await retried(() =>
    conn.call(LedgerService.method.listAccounts, { owner: { owner: { case: "system", value: SystemAccount.ISSUANCE } }, currency }),
  );
  const issuance = issuers[0]?.id;
  if (!issuance) throw new Error(`no SYSTEM_ACCOUNT_ISSUANCE account in ${currency}`);

  const batches: string[][] = [];
  for (let i = 0; i < n; i += MAX_LEGS) batches.push(wallets.slice(i, i + MAX_LEGS));
  const funded = progress(log, `TransferBatch funding (${label}, ${MAX_LEGS} legs each)`, batches.length);
  await inParallel(batches, options.fundInFlight ?? 48, async (batch, b) => {
    await retried(() =>
      conn.call(LedgerService.method.transferBatch, {
        idempotencyKey: `bench-seed-${tag}-${label}-fund-${b}`,
        legs: batch.map((credit) => ({ debitAccountId: issuance, creditAccountId: credit, amount: funding, memo: "bench funding" })),
      }),
    );
    funded();
  });
  return { accounts: wallets, users };
}
