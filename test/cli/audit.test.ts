/**
 * `verify-audit` and `export-checkpoint`, run as child processes against the
 * audit log a real service wrote and sealed: an intact chain verifies
 * (exit 0); an event changed behind the log's back (UPDATE with triggers
 * off for that transaction: `SET LOCAL session_replication_role = replica`,
 * as the superuser) fails naming its sequence (exit 1); an exported
 * checkpoint is digested, signed with a given key, and later proves the log
 * still holds it, or that it no longer does.
 */
import { createHash, generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";
import { fundedAccount, key, ledgerClient } from "../support/ledger.js";
import { until } from "../support/poll.js";
import { startTestServer, type TestServer } from "../support/server.js";

let server: TestServer;
let dir: string;
let head: { seq: string; hash: string };

const sql = (text: string) => server.database.sql(text);
const cli = (...args: string[]) => runCli(args, { DATABASE_URL: server.database.url });

beforeAll(async () => {
  server = await startTestServer({}, undefined, "direct");
  dir = await mkdtemp(path.join(tmpdir(), "lor-cli-audit-"));
  const client = ledgerClient(server);
  const a = await fundedAccount(client, 1_000n);
  const b = await fundedAccount(client, 1_000n);
  for (let i = 0; i < 5; i++) await client.transfer({ idempotencyKey: key("t"), debitAccountId: a.id, creditAccountId: b.id, amount: 10n });
  // The service's sealer chains every event within moments of its commit.
  const waiting = await until(
    async () => Number((await sql("SELECT count(*) AS n FROM audit_events e WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_id = e.id)")).rows[0]!.n),
    (n) => n === 0,
    10_000,
  );
  expect(waiting).toBe(0);
  const { rows } = await sql("SELECT s.seq::text AS seq, encode(s.hash, 'hex') AS hash FROM audit_seals s ORDER BY s.seq DESC LIMIT 1");
  head = rows[0] as typeof head;
  expect(Number(head.seq)).toBeGreaterThan(8);
});
afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Changes the payload of the event sealed at `seq` (triggers off, this transaction only); returns the undo. */
async function tamper(seq: number): Promise<() => Promise<void>> {
  const { rows } = await sql(`SELECT e.id, e.payload::text AS payload FROM audit_events e JOIN audit_seals s ON s.event_id = e.id WHERE s.seq = ${seq}`);
  const { id, payload } = rows[0] as { id: string; payload: string };
  const set = (value: string) => sql(`BEGIN; SET LOCAL session_replication_role = replica; UPDATE audit_events SET payload = '${value}'::jsonb WHERE id = ${id}; COMMIT;`);
  await set(JSON.stringify({ ...JSON.parse(payload), amount: "999999" }));
  return async () => {
    await set(payload);
  };
}

describe("verify-audit", () => {
  it("verifies an intact chain from its first sequence to its head, with plain progress lines off a terminal", async () => {
    const run = await runCli(["verify-audit"], { DATABASE_URL: server.database.url, CLI_PROGRESS_INTERVAL_MS: "0" });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`audit chain verified: sequences 1 to ${head.seq} (${head.seq} links)\n`);
    expect(run.stderr).toBe(`verify-audit: ${head.seq}/${head.seq} links (100%)\n`);
  });

  it("fails on an event changed after sealing, naming its sequence; a range after it still verifies", async () => {
    const undo = await tamper(3);
    try {
      const run = await cli("verify-audit");
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/^audit chain broken at sequence 3: its hash is not SHA-256\(previous hash \|\| its event\) \(hash: expected [0-9a-f]{64}, stored [0-9a-f]{64}\); 2 links before it verified\n$/);
      expect((await cli("verify-audit", "--from", "2", "--to", "5")).stdout).toContain("broken at sequence 3");
      const after = await cli("verify-audit", "--from", "4");
      expect(after.code).toBe(0);
      expect(after.stdout).toContain(`sequences 4 to ${head.seq}`);
    } finally {
      await undo();
    }
    expect((await cli("verify-audit")).code).toBe(0);
  });

  it("refuses a range outside the chain as a usage error", async () => {
    const beyond = await cli("verify-audit", "--to", String(Number(head.seq) + 1));
    expect(beyond.code).toBe(2);
    expect(beyond.stderr).toContain(`--to ${Number(head.seq) + 1} is beyond the chain's head: sequence ${head.seq} is the last sealed`);
    expect((await cli("verify-audit", "--from", "5", "--to", "4")).code).toBe(2);
    expect((await cli("verify-audit", "--from", "0")).code).toBe(2);
  });
});

describe("export-checkpoint", () => {
  it("prints the head as a document whose digest is the SHA-256 of its sorted, whitespace-free JSON", async () => {
    const run = await cli("export-checkpoint");
    expect(run.code).toBe(0);
    const document = JSON.parse(run.stdout);
    expect(document.checkpoint).toMatchObject({ format: "aevon.audit.checkpoint.v1", sequence: head.seq, hash: head.hash, unsealed_count: "0" });
    expect(Date.parse(document.checkpoint.sealed_at)).toBeLessThanOrEqual(Date.parse(document.checkpoint.exported_at));
    const canonical = JSON.stringify(Object.fromEntries(Object.entries(document.checkpoint).sort(([a], [b]) => (a < b ? -1 : 1))));
    expect(document.digest).toBe(`sha256:${createHash("sha256").update(canonical).digest("hex")}`);
    expect(document.signature).toBeUndefined();
  });

  it("signs with --key; verify-audit --checkpoint proves the log still holds it, or says why not", async () => {
    const keys = generateKeyPairSync("ed25519");
    const other = generateKeyPairSync("ed25519");
    const privatePem = path.join(dir, "key.pem");
    const publicPem = path.join(dir, "key.pub.pem");
    const otherPem = path.join(dir, "other.pub.pem");
    await writeFile(privatePem, keys.privateKey.export({ type: "pkcs8", format: "pem" }));
    await writeFile(publicPem, keys.publicKey.export({ type: "spki", format: "pem" }));
    await writeFile(otherPem, other.publicKey.export({ type: "spki", format: "pem" }));
    const file = path.join(dir, "checkpoint.json");

    const exported = await cli("export-checkpoint", "--out", file, "--key", privatePem);
    expect(exported).toMatchObject({ code: 0, stdout: "", stderr: `checkpoint of sequence ${head.seq} written to ${file}\n` });
    const document = JSON.parse(await readFile(file, "utf8"));
    expect(document.signature).toMatchObject({ algorithm: "ed25519", key_id: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });

    const held = await cli("verify-audit", "--checkpoint", file, "--public-key", publicPem);
    expect(held.code).toBe(0);
    expect(held.stdout).toContain(`checkpoint: sequence ${head.seq} still has the exported hash ${head.hash}`);

    const wrongKey = await cli("verify-audit", "--checkpoint", file, "--public-key", otherPem);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stdout).toContain("does not verify with the given public key");

    const altered = path.join(dir, "altered.json");
    await writeFile(altered, JSON.stringify({ ...document, checkpoint: { ...document.checkpoint, sequence: "1" } }));
    const alteredRun = await cli("verify-audit", "--checkpoint", altered);
    expect(alteredRun.code).toBe(1);
    expect(alteredRun.stdout).toContain("the checkpoint's digest does not match its contents");

    // A well-formed checkpoint whose hash the log does not have at its sequence: the log was rewritten.
    const forgedBody = { ...document.checkpoint, hash: "ab".repeat(32) };
    const canonical = JSON.stringify(Object.fromEntries(Object.entries(forgedBody).sort(([a], [b]) => (a < b ? -1 : 1))));
    const forged = path.join(dir, "forged.json");
    await writeFile(forged, JSON.stringify({ checkpoint: forgedBody, digest: `sha256:${createHash("sha256").update(canonical).digest("hex")}` }));
    const rewritten = await cli("verify-audit", "--checkpoint", forged);
    expect(rewritten.code).toBe(1);
    expect(rewritten.stdout).toContain(`checkpoint: sequence ${head.seq}'s hash is ${head.hash}, the checkpoint says ${"ab".repeat(32)} (the log was rewritten)`);

    const notJson = path.join(dir, "not.json");
    await writeFile(notJson, "{");
    expect((await cli("verify-audit", "--checkpoint", notJson)).code).toBe(2);
  });
});
