/**
 * In-process CPU per Transfer (no gRPC): Ledger.transfer called one at a
 * time against a fresh database, with the CPU spent in each store call.
 * Shows what the domain + Prisma cost per transfer, apart from transport:
 * `postTransfers` (the one-statement path every Transfer takes), and, for
 * comparison, a one-leg TransferBatch through the interactive transaction
 * (`claimAndLockAccounts`, `write`).
 *
 *   npx tsx bench/transfer-cpu.ts        N=1000 BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test
 */
import pg from "pg";
import { pino } from "pino";
import { applyPendingMigrations } from "../src/db/migrations.js";
import type { Idempotency } from "../src/domain/idempotency.js";
import { Ledger } from "../src/domain/ledger/ledger.js";
import type { LedgerStore } from "../src/domain/ledger/ports.js";
import { loadConfig } from "../src/lib/config.js";
import { createPrisma } from "../src/lib/prisma.js";
import { buildCachePolicy } from "../src/server/compose.js";
import { createLedgerStore } from "../src/store/ledger-store.js";
import { PrismaLedgerTx } from "../src/store/ledger-tx.js";

const N = Number(process.env.N ?? 500);
const cpuMicros: Record<string, number> = {};

/** Adds the CPU of every call of `object[method]` to cpuMicros[method]. */
function measure(object: Record<string, unknown>, method: string): void {
  const original = object[method] as (...args: unknown[]) => Promise<unknown>;
  object[method] = async function (this: unknown, ...args: unknown[]) {
    const start = process.cpuUsage();
    try {
      return await original.apply(this, args);
    } finally {
      const used = process.cpuUsage(start);
      cpuMicros[method] = (cpuMicros[method] ?? 0) + used.user + used.system;
    }
  };
}

for (const method of ["claimAndLockAccounts", "write"]) measure(PrismaLedgerTx.prototype as unknown as Record<string, unknown>, method);

const adminUrl = process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const admin = new pg.Client(adminUrl);
await admin.connect();
const name = `pt_${Date.now()}`;
await admin.query(`CREATE DATABASE ${name}`);
const url = Object.assign(new URL(adminUrl), { pathname: `/${name}` }).toString();
try {
  await applyPendingMigrations(url);
  const db = createPrisma({ url });
  const store: LedgerStore = createLedgerStore(db, { cache: buildCachePolicy(db, loadConfig({ DATABASE_URL: url }), pino({ level: "silent" })) });
  measure(store as unknown as Record<string, unknown>, "postTransfers");
  const ledger = new Ledger(store, { exists: async () => true });
  const idem = <R>(key: string): Idempotency<R> => ({
    claim: { scope: "bench", key, requestHash: new Uint8Array(32) },
    encode: () => new Uint8Array(10),
    refuse: () => new Uint8Array(10),
    context: { actor: "bench", onBehalfOf: null, requestId: "" },
  });
  // System accounts exist from the first migration and need no user: treasury pays fees, back and forth.
  const system = async (role: string) => (await ledger.listAccounts({ owner: { type: "SYSTEM", id: role }, currency: "USD" }, 1, "")).items[0]!;
  const a = await system("treasury");
  const b = await system("fees");
  const leg = (i: number) => ({ debitAccountId: i % 2 ? a.id : b.id, creditAccountId: i % 2 ? b.id : a.id, amount: 1n, currency: "", memo: "" });
  for (let i = 0; i < 100; i++) await ledger.transfer({ idempotencyKey: `w${i}`, ...leg(i) }, idem(`w${i}`));

  for (const k in cpuMicros) cpuMicros[k] = 0;
  let start = process.cpuUsage();
  let t0 = performance.now();
  for (let i = 0; i < N; i++) await ledger.transfer({ idempotencyKey: `x${i}`, ...leg(i) }, idem(`x${i}`));
  let used = process.cpuUsage(start);
  console.log(
    `transfer cpu/op ms ${((used.user + used.system) / 1000 / N).toFixed(3)} user ${(used.user / 1000 / N).toFixed(3)} sys ${(used.system / 1000 / N).toFixed(3)} wall/op ${((performance.now() - t0) / N).toFixed(3)}`,
  );
  console.log(`postTransfers ${((cpuMicros.postTransfers ?? 0) / 1000 / N).toFixed(3)}`);

  start = process.cpuUsage();
  t0 = performance.now();
  for (let i = 0; i < N; i++) await ledger.transferBatch(`y${i}`, [leg(i)], idem(`y${i}`));
  used = process.cpuUsage(start);
  console.log(`batch(1 leg) cpu/op ms ${((used.user + used.system) / 1000 / N).toFixed(3)} wall/op ${((performance.now() - t0) / N).toFixed(3)}`);
  for (const method of ["claimAndLockAccounts", "write"]) console.log(`${method} ${((cpuMicros[method] ?? 0) / 1000 / N).toFixed(3)}`);
  await db.$disconnect();
} finally {
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}
