/**
 * Per-principal rate limits on the running service (JWT principals over
 * TLS): with 1 write per second and a burst of 2, a principal that spends
 * its bucket is refused RESOURCE_EXHAUSTED (RATE_LIMITED) with a RetryInfo,
 * and nothing it asked for is done, while another principal is served.
 */
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestPki, type TestPki } from "../support/certs.js";
import { key, reasonOf, settle } from "../support/ledger.js";
import { makeTokenIssuer, retryDelayMsOf, secureClients, startSecureServer, type SecureServer, type TokenIssuer } from "../support/secure.js";

let pki: TestPki;
let issuer: TokenIssuer;
let server: SecureServer;

beforeAll(async () => {
  pki = makeTestPki();
  issuer = await makeTokenIssuer(pki.dir);
  server = await startSecureServer({
    TLS_CERT_FILE: pki.server.certFile,
    TLS_KEY_FILE: pki.server.keyFile,
    ...issuer.env,
    RATE_LIMIT_WRITE_PER_SECOND: "1",
    RATE_LIMIT_WRITE_BURST: "2",
  });
});
afterAll(async () => {
  await server?.close();
  pki?.cleanup();
});

describe.each(["grpc", "connect"] as const)("write rate limit per principal on the %s port", (port) => {
  it("refuses the principal past its burst (RATE_LIMITED, RetryInfo > 0, nothing done) and keeps serving another", async () => {
    const greedy = secureClients(server, { ca: pki.ca.cert, token: await issuer.token(`svc-greedy-${port}`) }, port);
    const modest = secureClients(server, { ca: pki.ca.cert, token: await issuer.token(`svc-modest-${port}`) }, port);
    const create = (c: typeof greedy, n: number) =>
      Array.from({ length: n }, (_, i) => c.identity.createUser({ idempotencyKey: key("u"), handle: `rl_${port}_${i}_${Math.random().toString(36).slice(2, 10)}` }));
    // All at once: the greedy principal asks for 8 writes, the modest one for 2 (its burst).
    const [greedyOutcome, modestOutcome] = await Promise.all([settle(create(greedy, 8)), settle(create(modest, 2))]);

    expect(modestOutcome.failed.map((e) => e.rawMessage)).toEqual([]);
    expect(modestOutcome.ok).toHaveLength(2);
    // The burst, plus one per second the batch took (a slow box may take a few), is served; the rest refused.
    expect(greedyOutcome.ok.length).toBeGreaterThanOrEqual(2);
    expect(greedyOutcome.failed.length).toBeGreaterThanOrEqual(1);
    for (const error of greedyOutcome.failed) {
      expect({ code: Code[error.code], reason: reasonOf(error) }).toEqual({ code: "ResourceExhausted", reason: "RATE_LIMITED" });
      const delayMs = retryDelayMsOf(error);
      expect(delayMs).toBeGreaterThan(0);
      expect(delayMs).toBeLessThanOrEqual(1000);
    }
    // Only the admitted calls did anything.
    const users = await server.database.sql<{ n: number }>("SELECT count(*)::int AS n FROM users WHERE handle LIKE $1", [`rl\\_${port}\\_%`]);
    expect(users.rows[0]!.n).toBe(greedyOutcome.ok.length + modestOutcome.ok.length);
    // Reads have their own bucket: the greedy principal still reads.
    expect((await greedy.ledger.getCurrency({ code: "USD" })).currency?.scale).toBe(2);
  });
});
