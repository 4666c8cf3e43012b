/**
 * Erasure reaches every store: after DeleteUser, no table holds the user's
 * handle, email, display name or external subject, stored replies included,
 * and a replay of an earlier call with its key answers with the user as it
 * is now (deleted, scrubbed).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserStatus } from "../../src/gen/aevon/identity/v1/identity_pb.js";
import type { TestDatabase } from "../support/db.js";
import { identityClient, key, ledgerClient, type IdentityClient } from "../support/ledger.js";
import { startTestServer, type TestServer } from "../support/server.js";

let server: TestServer;
let identity: IdentityClient;

beforeAll(async () => {
  server = await startTestServer();
  identity = identityClient(ledgerClient(server));
});

afterAll(async () => {
  await server?.close();
});

/** Every (table, column) of the schema that holds `needle`: text and JSON as text, bytea as bytes. */
async function whereStored(db: TestDatabase, needle: string): Promise<string[]> {
  const { rows: columns } = await db.sql<{ table_name: string; column_name: string; data_type: string }>(
    `SELECT table_name, column_name, data_type FROM information_schema.columns
     WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea')`,
  );
  const found: string[] = [];
  for (const c of columns) {
    const column = `"${c.column_name}"`;
    const test = c.data_type === "bytea" ? `position(convert_to($1, 'UTF8') in ${column}) > 0` : `strpos(lower(${column}::text), lower($1)) > 0`;
    const { rows } = await db.sql<{ n: number }>(`SELECT count(*)::int AS n FROM "${c.table_name}" WHERE ${test}`, [needle]);
    if (rows[0]!.n > 0) found.push(`${c.table_name}.${c.column_name}`);
  }
  return found;
}

describe("DeleteUser erases everywhere", () => {
  it("leaves the handle, email, display name and external subject in no table, stored replies included", async () => {
    const tag = randomUUID().replaceAll("-", "").slice(0, 12);
    const personal = { handle: `erin_${tag}`, email: `erin.${tag}@example.org`, displayName: `Erin Example ${tag}`, subject: `oidc-subject-${tag}` };
    const create = {
      idempotencyKey: key("create"),
      handle: personal.handle,
      email: personal.email,
      displayName: personal.displayName,
      externalIdentity: { provider: "https://login.example.org", subject: personal.subject },
    };
    const { user } = await identity.createUser(create);
    const update = {
      idempotencyKey: key("update"),
      userId: user!.id,
      version: user!.version,
      updateMask: { paths: ["display_name"] },
      displayName: `${personal.displayName} Jr`,
    };
    await identity.updateUser(update);
    // Before: the personal data is where it belongs, including the stored replies.
    expect(await whereStored(server.database, personal.email)).toContain("idempotency_keys.response");

    const deleted = await identity.deleteUser({ idempotencyKey: key("delete"), userId: user!.id, reason: "erasure request" });
    expect(deleted.user).toMatchObject({ status: UserStatus.DELETED, handle: "", email: "", displayName: "" });
    for (const value of Object.values(personal)) expect(await whereStored(server.database, value), value).toEqual([]);

    // Replays answer with the user as it is now.
    for (const replayed of [await identity.createUser(create), await identity.updateUser(update)]) {
      expect(replayed.user).toEqual(deleted.user);
    }
    // Even once someone else has the handle.
    await identity.createUser({ idempotencyKey: key("other"), handle: personal.handle });
    expect((await identity.createUser(create)).user).toEqual(deleted.user);
  });
});
