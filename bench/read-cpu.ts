/**
 * In-process CPU per balance read (no gRPC): the store's findBalance as the
 * service runs it, against the same read as one raw statement through the
 * same Prisma client, and through bare `pg` (the floor). One at a time.
 *
 *   npx tsx bench/read-cpu.ts        N=2000 BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test
 */
import pg from "pg";
import { pino } from "pino";
import { applyPendingMigrations } from "../src/db/migrations.js";
import { loadConfig } from "../src/lib/config.js";
import { createPrisma } from "../src/lib/prisma.js";
import { buildCachePolicy } from "../src/server/compose.js";
import { createLedgerStore } from "../src/store/ledger-store.js";
import { BALANCE_BY_ID_SQL } from "../src/store/read-sql.js";

const N = Number(process.env.N ?? 2000);
const adminUrl = process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const admin = new pg.Client(adminUrl);
await admin.connect();
const name = `rc_${Date.now()}`;
await admin.query(`CREATE DATABASE ${name}`);
const url = Object.assign(new URL(adminUrl), { pathname: `/${name}` }).toString();

async function cpuPerCall(label: string, call: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 200; i++) await call(i); // warm-up
  const start = process.cpuUsage();
  const wall = performance.now();
  for (let i = 0; i < N; i++) await call(i);
  const used = process.cpuUsage(start);
  const ms = performance.now() - wall;
  console.log(`${label.padEnd(34)} ${((used.user + used.system) / N / 1000).toFixed(3)} ms CPU/call   ${(ms / N).toFixed(3)} ms wall/call`);
}

try {
  await applyPendingMigrations(url);
  const db = createPrisma({ url });
  const store = createLedgerStore(db, { cache: buildCachePolicy(db, loadConfig({ DATABASE_URL: url }), pino({ level: "silent" })) });
  const raw = new pg.Client(url);
  await raw.connect();
  raw.on("error", (e) => console.error("raw client error", e.message));
  admin.on("error", (e) => console.error("admin client error", e.message));
  const ids = (await raw.query<{ id: string }>("SELECT id FROM accounts ORDER BY id LIMIT 10")).rows.map((r) => r.id);
  if (ids.length === 0) throw new Error("no accounts to read");
  const id = (i: number) => ids[i % ids.length]!;
  for (let round = 1; round <= Number(process.env.ROUNDS ?? 2); round++) {
    console.log(`round ${round}`);
    await cpuPerCall("store.findBalance (STRONG)", (i) => store.findBalance(id(i), "STRONG"));
    await cpuPerCall("model query with include (before)", (i) =>
      db.account.findUnique({ where: { id: id(i) }, include: { entries: { orderBy: { id: "desc" }, take: 1 } } }),
    );
    await cpuPerCall("store.findAccount (STRONG)", (i) => store.findAccount(id(i), "STRONG"));
      await cpuPerCall("the statement via Prisma raw", (i) => db.$queryRawUnsafe(BALANCE_BY_ID_SQL, id(i)));
    await cpuPerCall("the statement via bare pg (floor)", (i) => raw.query({ name: "b", text: BALANCE_BY_ID_SQL, values: [id(i)] }));
  }
  await raw.end();
  await db.$disconnect();
} finally {
  await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
  await admin.end();
}
