/**
 * The least-privileged database role, for real: a new LOGIN role (owning
 * nothing) runs the service while the superuser runs migrations; start-up
 * makes it a member of ledger_runtime, the service works through it, and
 * connected as it, nothing can rewrite or drop the audit log or the journal
 * nor switch their triggers off. Under NODE_ENV=production the service
 * refuses a privileged role and accepts this one.
 */
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IdentityService } from "../../src/gen/aevon/identity/v1/identity_pb.js";
import { LedgerService, SystemAccount } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { createEmptyDatabase, createTestDatabase, type TestDatabase } from "../support/db.js";
import { expectFailure, key } from "../support/ledger.js";
import { recordingLogger, startFailure, startSecureServer } from "../support/secure.js";

const run = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, "../..");
// Roles are cluster-wide: a unique name, dropped at the end.
const ROLE = `lor_rt_${process.pid}_${randomBytes(3).toString("hex")}`;

let db: TestDatabase;
let runtimeUrl: string;

beforeAll(async () => {
  db = await createTestDatabase();
  // A password: the embedded PostgreSQL asks for one (scram), the machine's may trust.
  await db.sql(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${ROLE}'`);
  const url = new URL(db.url);
  url.username = ROLE;
  url.password = ROLE;
  runtimeUrl = url.toString();
});
afterAll(async () => {
  // It owns nothing and holds no privilege of its own; its membership in ledger_runtime goes with it.
  await db?.sql(`DROP ROLE IF EXISTS ${ROLE}`);
  await db?.drop();
});

function clientsOf(grpcPort: number) {
  const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${grpcPort}` });
  return { ledger: createClient(LedgerService, transport), identity: createClient(IdentityService, transport) };
}

/** Runs `sql` connected as the runtime role; resolves with its error (code and message), or undefined when it succeeded. */
async function asRuntimeRole(sql: string, values: unknown[] = []): Promise<{ code: string; message: string } | undefined> {
  const client = new pg.Client({ connectionString: runtimeUrl });
  await client.connect();
  try {
    await client.query(sql, values);
    return undefined;
  } catch (error) {
    const e = error as { code: string; message: string };
    return { code: e.code, message: e.message };
  } finally {
    await client.end();
  }
}

const member = async () => (await db.sql<{ member: boolean }>("SELECT pg_has_role($1, 'ledger_runtime', 'MEMBER') AS member", [ROLE])).rows[0]!.member;

describe("the service on a least-privileged login role", () => {
  it("`npm run migrate:deploy` as the owner, with the service's DATABASE_URL, makes its role a member of ledger_runtime", async () => {
    expect(await member()).toBe(false);
    const { stdout } = await run("npm", ["run", "--silent", "migrate:deploy"], {
      cwd: REPO,
      env: { ...process.env, MIGRATION_DATABASE_URL: db.url, DATABASE_URL: runtimeUrl, DIRECT_DATABASE_URL: "" },
    });
    expect(stdout).toContain("No pending migrations.");
    expect(stdout).toContain(`Granted ledger_runtime to ${ROLE}.`);
    expect(await member()).toBe(true);
    await db.sql(`REVOKE ledger_runtime FROM ${ROLE}`); // for the start-up grant below
  });

  it("is made a member of ledger_runtime at start-up, works through it, and that role cannot touch the audit log or the journal", async () => {
    expect(await member()).toBe(false);
    const server = await startSecureServer({ DATABASE_URL: runtimeUrl, MIGRATION_DATABASE_URL: db.url }, { database: db });
    let transferId: string;
    try {
      expect(await member()).toBe(true);
      // The service's connections are the runtime role's.
      const sessions = await db.sql<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND usename = $2", [db.name, ROLE]);
      expect(sessions.rows[0]!.n).toBeGreaterThan(0);

      const { ledger, identity } = clientsOf(server.grpcPort);
      const wallet = async () => {
        const { user } = await identity.createUser({ idempotencyKey: key("u"), handle: `role_${randomUUID().slice(0, 8)}` });
        return (await ledger.createAccount({ idempotencyKey: key("a"), owner: { owner: { case: "userId", value: user!.id } }, currency: "USD" })).account!.id;
      };
      const [alice, bob] = [await wallet(), await wallet()];
      const issuance = (await ledger.listAccounts({ owner: { owner: { case: "system", value: SystemAccount.ISSUANCE } }, currency: "USD" })).accounts[0]!.id;
      await ledger.transfer({ idempotencyKey: key("mint"), debitAccountId: issuance, creditAccountId: alice, amount: 1000n });
      const { transfer } = await ledger.transfer({ idempotencyKey: key("t"), debitAccountId: alice, creditAccountId: bob, amount: 400n });
      transferId = transfer!.id;
      expect(transfer?.creditBalanceAfter).toBe(400n);
      // A partial reversal: the one UPDATE of a transfer the service makes.
      await ledger.reverseTransfer({ idempotencyKey: key("r"), transferId, amount: 100n });
      const events = await db.sql<{ n: number }>("SELECT count(*)::int AS n FROM audit_events WHERE resource_type = 'transfer'");
      expect(events.rows[0]!.n).toBeGreaterThanOrEqual(3);
      await expectFailure(ledger.transfer({ idempotencyKey: key("t"), debitAccountId: alice, creditAccountId: bob, amount: 1_000_000n }), Code.FailedPrecondition, "INSUFFICIENT_FUNDS");
    } finally {
      await server.stop();
    }

    const refusedByPrivilege: string[] = [
      "UPDATE audit_events SET actor = 'someone-else'",
      "DELETE FROM audit_events",
      "TRUNCATE audit_events",
      "UPDATE audit_seals SET hash = hash",
      "DELETE FROM audit_seals",
      "TRUNCATE audit_seals",
      "ALTER TABLE audit_events DISABLE TRIGGER ALL",
      "ALTER TABLE transfers DISABLE TRIGGER transfers_immutable",
      "DROP TABLE audit_events",
      "SET session_replication_role = replica",
      "UPDATE transfers SET amount = amount + 1",
      "DELETE FROM entries",
    ];
    // Events exist, so a trigger would have had rows to refuse: each refusal below is the privilege system's (its message says so).
    expect((await db.sql<{ n: number }>("SELECT count(*)::int AS n FROM audit_events")).rows[0]!.n).toBeGreaterThan(0);
    for (const sql of refusedByPrivilege) {
      const error = await asRuntimeRole(sql);
      expect({ sql, code: error?.code, message: error?.message }).toEqual({
        sql,
        code: "42501",
        message: expect.stringMatching(/^(permission denied for (table|sequence) \w+|must be owner of table \w+|permission denied to set parameter "session_replication_role")$/),
      });
    }

    // Its reversed amount is the one column of a transfer the role may update...
    expect(await asRuntimeRole("UPDATE transfers SET reversed_amount = reversed_amount WHERE id = $1", [transferId!])).toBeUndefined();
    // ...and PostgreSQL still guards it: it only grows, never beyond the amount.
    expect(await asRuntimeRole("UPDATE transfers SET reversed_amount = 0 WHERE id = $1", [transferId!])).toMatchObject({
      message: "a transfer is immutable; only its reversed amount may grow",
    });
    expect(await asRuntimeRole("UPDATE transfers SET reversed_amount = amount + 1 WHERE id = $1", [transferId!])).toMatchObject({
      code: "23514",
      message: expect.stringContaining("transfers_reversed_within_amount"),
    });
    const stored = await db.sql<{ amount: string; reversed_amount: string }>("SELECT amount::text, reversed_amount::text FROM transfers WHERE id = $1", [transferId!]);
    expect(stored.rows).toEqual([{ amount: "400", reversed_amount: "100" }]);
  });
});

describe("a service holding only its own role's credentials", () => {
  it.each(["false", "true"])("starts once a deploy step has migrated (MIGRATE_ON_START=%s, no MIGRATION_DATABASE_URL) and serves", async (migrateOnStart) => {
    await db.sql(`GRANT ledger_runtime TO ${ROLE}`); // what migrate:deploy or the first start did
    const server = await startSecureServer({ DATABASE_URL: runtimeUrl, MIGRATE_ON_START: migrateOnStart }, { database: db });
    try {
      expect((await clientsOf(server.grpcPort).ledger.getCurrency({ code: "USD" })).currency?.scale).toBe(2);
    } finally {
      await server.stop();
    }
  });
});

describe("migrating on start as the least-privileged role", () => {
  it("pending migrations and no owner URL: refused with a message naming the role, MIGRATION_DATABASE_URL and migrate:deploy", async () => {
    const empty = await createEmptyDatabase();
    try {
      const url = Object.assign(new URL(empty.url), { username: ROLE, password: ROLE }).toString();
      const error = await startFailure({ DATABASE_URL: url }, empty);
      expect(error.message).toMatch(new RegExp(`^MIGRATE_ON_START: the database role ${ROLE} may not apply the pending migrations \\(.*permission denied`));
      expect(error.message).toMatch(/MIGRATION_DATABASE_URL/);
      expect(error.message).toMatch(/npm run migrate:deploy/);
    } finally {
      await empty.drop();
    }
  });
});

describe("NODE_ENV=production and the database role", () => {
  const production = { NODE_ENV: "production", AUTH_MODE: "insecure" };

  it("refuses to start as the superuser, saying what the role may do and what to run instead", async () => {
    const error = await startFailure({ ...production, DATABASE_URL: db.url }, db);
    const superuser = new URL(db.url).username || "postgres";
    expect(error.message).toContain(`the service's database role ${superuser} is a superuser`);
    expect(error.message).toMatch(/member of ledger_runtime only/);
    expect(error.message).toMatch(/MIGRATION_DATABASE_URL/);
    // It points at the section that explains the set-up, which exists.
    expect(error.message).toContain('see docs/SECURITY.md "Database roles"');
    expect(readFileSync(path.join(REPO, "docs/SECURITY.md"), "utf8")).toMatch(/^## Database roles$/m);
  });

  it("starts as the least-privileged role (AUTH_MODE=insecure accepting open mode, with a warning)", async () => {
    const { logger, lines } = recordingLogger();
    const server = await startSecureServer({ ...production, DATABASE_URL: runtimeUrl, MIGRATION_DATABASE_URL: db.url }, { database: db, logger });
    try {
      expect((await clientsOf(server.grpcPort).ledger.getCurrency({ code: "USD" })).currency?.scale).toBe(2);
      const warnings = lines.filter((l) => l.level === 40).map((l) => String(l.msg));
      expect(warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^AUTHENTICATION IS OFF/)]));
      expect(warnings.filter((w) => /database role/.test(w))).toEqual([]);
    } finally {
      await server.stop();
    }
  });
});
