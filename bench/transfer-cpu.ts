/**
 * In-process CPU per Transfer (no gRPC): Ledger.transfer called one at a
 * time against a fresh database, with the CPU spent in each store call.
 * Shows what the domain + Prisma cost per transfer, apart from transport.
 *
 *   npx tsx bench/transfer-cpu.ts        N=1000 BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test
 */
import pg from "pg";
import { randomUUID } from "node:crypto";
import { applyPendingMigrations } from "../src/db/migrations.js";
import { pino } from "pino";
import { loadConfig } from "../src/lib/config.js";
import { createPrisma } from "../src/lib/prisma.js";
import { buildCachePolicy } from "../src/server/app.js";
import { Ledger } from "../src/domain/ledger/ledger.js";
import { createLedgerStore, PrismaLedgerTx } from "../src/store/ledger-store.js";
const acc: Record<string, number> = {};
for (const m of ["claim", "claimAndLockAccounts", "lockAccounts", "write"] as const) {
  const orig = (PrismaLedgerTx.prototype as any)[m];
  (PrismaLedgerTx.prototype as any)[m] = async function (...args: unknown[]) { const c0 = process.cpuUsage(); const r = await orig.apply(this, args); const c = process.cpuUsage(c0); acc[m] = (acc[m] ?? 0) + c.user + c.system; return r; };
}
const adminUrl = process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const admin = new pg.Client(adminUrl); await admin.connect();
const name = "pt_" + Date.now(); await admin.query(`CREATE DATABASE ${name}`);
const url = Object.assign(new URL(adminUrl), { pathname: `/${name}` }).toString();
try {
await applyPendingMigrations(url);
const db = createPrisma({ url });
const ledger = new Ledger(createLedgerStore(db, { cache: buildCachePolicy(db, loadConfig({ DATABASE_URL: url }), pino({ level: "silent" })) }));
const idem = (k: string) => ({ claim: { scope: "t", key: k, requestHash: new Uint8Array(32) }, encode: () => new Uint8Array(10), context: { actor: "bench", requestId: "" } });
const open = async () => (await ledger.createAccount({ owner: { type: "USER", id: randomUUID() }, currency: "USD", label: "", isDefault: false }, idem(randomUUID()))).result!;
const a = await open(); const b = await open();
const iss = (await ledger.listAccounts({ owner: { type: "SYSTEM", id: "issuance" }, currency: "USD" }, 1, "")).items[0]!;
await ledger.transfer({ idempotencyKey: "f", debitAccountId: iss.id, creditAccountId: a.id, amount: 10n ** 12n, currency: "", memo: "" }, idem("f"));
const N = Number(process.env.N ?? 500);
for (let i = 0; i < 100; i++) await ledger.transfer({ idempotencyKey: "w" + i, debitAccountId: a.id, creditAccountId: b.id, amount: 1n, currency: "", memo: "" }, idem("w" + i));
for (const k in acc) acc[k] = 0; const c0 = process.cpuUsage(); const t0 = performance.now();
for (let i = 0; i < N; i++) await ledger.transfer({ idempotencyKey: "x" + i, debitAccountId: a.id, creditAccountId: b.id, amount: 1n, currency: "", memo: "" }, idem("x" + i));
const c = process.cpuUsage(c0);
console.log("transfer cpu/op ms", ((c.user + c.system) / 1000 / N).toFixed(3), "user", (c.user/1000/N).toFixed(3), "sys", (c.system/1000/N).toFixed(3), "wall/op", ((performance.now() - t0) / N).toFixed(3));
for (const k in acc) console.log(k, (acc[k]! / 1000 / N).toFixed(3)); await db.$disconnect();
} finally { await admin.query(`DROP DATABASE ${name} WITH (FORCE)`); await admin.end(); }
