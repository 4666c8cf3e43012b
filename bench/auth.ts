/**
 * CPU per call of the auth checks that run on every RPC, in process (no
 * transport): policy.authorize() + rateLimiter.take() + concurrency
 * acquire()/release(), over many principals and methods; plus, for scale,
 * the authentication steps a transport runs per call: tlsSocket.getPeerCertificate()
 * (what grpc-js's call.getAuthContext() does on every call), principalFromCertificate()
 * and one JWT verification. A few seconds in all.
 *
 *   npx tsx bench/auth.ts            N=1000000 PRINCIPALS=5000
 *
 * tsx compiles with esbuild's keepNames, which wraps every function created at
 * run time (like the release() closure) in a naming call: ~0.4 µs more per
 * acquire(). The production build (tsc, `node dist/…`) has no such wrapper; for
 * its figures, bundle without keepNames and run with plain node:
 *
 *   npx esbuild bench/auth.ts --bundle --platform=node --format=esm --packages=external --outfile=.data/auth-bench.mjs && node .data/auth-bench.mjs
 */
import { X509Certificate } from "node:crypto";
import tls from "node:tls";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { principalFromCertificate } from "../src/auth/certificates.js";
import { ConcurrencyLimiter } from "../src/auth/concurrency.js";
import { JwtVerifier } from "../src/auth/jwt.js";
import { parsePolicy } from "../src/auth/policy.js";
import { RateLimiter } from "../src/auth/rate-limit.js";
import { makeTestPki } from "../test/support/certs.js";

const N = Number(process.env.N ?? 1_000_000);
const PRINCIPALS = Number(process.env.PRINCIPALS ?? 5_000);
const L = "/aevon.ledger.v1.LedgerService";

const policy = parsePolicy({
  name: "bench",
  deny_rules: [{ name: "no-reversals", source: { principals: ["spiffe://aevon/ns/payments/*"] }, request: { paths: [`${L}/ReverseTransfer`] } }],
  allow_rules: [
    { name: "payments", source: { principals: ["spiffe://aevon/ns/payments/*"] }, request: { paths: [`${L}/*`] } },
    { name: "auditor", source: { principals: ["spiffe://aevon/ns/audit/sa/auditor"] }, request: { paths: ["/aevon.audit.v1.AuditService/*", `${L}/GetBalance`, `${L}/GetAccount`] } },
    { name: "readers", source: { principals: ["*"] }, request: { paths: ["*/GetCurrency", "*/ListCurrencies"] } },
    { name: "tenant-batch", source: { principals: ["spiffe://aevon/ns/batch/*"] }, request: { paths: [`${L}/*`], headers: [{ key: "x-tenant", values: ["tenant-*"] }] } },
  ],
});
const methods = ["Transfer", "GetBalance", "GetAccount", "ListTransfers", "GetCurrency", "ReverseTransfer", "CreateHold"].map((m) => `${L}/${m}`);
const principals = Array.from({ length: PRINCIPALS }, (_, i) =>
  i % 3 === 0 ? `spiffe://aevon/ns/payments/sa/svc-${i}` : i % 3 === 1 ? `spiffe://aevon/ns/batch/sa/job-${i}` : `spiffe://aevon/ns/other/sa/x-${i}`,
);
const headers = { "x-tenant": "tenant-eu" };
const rate = new RateLimiter({ read: { ratePerSec: 1_000_000, burst: 1_000_000 }, write: { ratePerSec: 1_000_000, burst: 1_000_000 }, maxPrincipals: 10_000 });
const limiter = new ConcurrencyLimiter({ maxConcurrent: 1024, maxPerPrincipal: 64 });

function perCall(): number {
  let allowed = 0;
  for (let i = 0; i < N; i++) {
    const principal = principals[i % PRINCIPALS]!;
    const path = methods[i % methods.length]!;
    const decision = policy.authorize({ principal, path, headers });
    if (!decision.allowed) continue;
    const group = path.endsWith("Transfer") || path.endsWith("Hold") ? "write" : "read";
    if (!rate.take(principal, group).ok) continue;
    const slot = limiter.acquire(principal);
    if (slot.ok) {
      slot.release();
      allowed++;
    }
  }
  return allowed;
}

perCall(); // warm-up (JIT, plan cache, buckets)
const t0 = process.hrtime.bigint();
const allowed = perCall();
const ns = Number(process.hrtime.bigint() - t0) / N;
console.log(`authorize()+take()+acquire()/release(): ${ns.toFixed(0)} ns per call (${N} calls, ${PRINCIPALS} principals, ${methods.length} methods, ${allowed} passed all three)`);

function each(label: string, step: (principal: string, path: string) => void): void {
  for (let i = 0; i < N / 4; i++) step(principals[i % PRINCIPALS]!, methods[i % methods.length]!);
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) step(principals[i % PRINCIPALS]!, methods[i % methods.length]!);
  console.log(`  ${label}: ${(Number(process.hrtime.bigint() - start) / N).toFixed(0)} ns`);
}
each("authorize() alone", (principal, path) => void policy.authorize({ principal, path, headers }));
each("take() alone", (principal) => void rate.take(principal, "read"));
each("acquire()+release() alone", (principal) => {
  const slot = limiter.acquire(principal);
  if (slot.ok) slot.release();
});

// For scale: the per-call authentication steps.
const pki = makeTestPki();
const peerCertificateUs = await new Promise<number>((resolve) => {
  const server = tls.createServer({ cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: true }, (socket) => {
    for (let i = 0; i < 1_000; i++) socket.getPeerCertificate();
    const K = 10_000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < K; i++) socket.getPeerCertificate();
    resolve(Number(process.hrtime.bigint() - start) / K / 1000);
    socket.end();
    server.close();
  });
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as { port: number }).port;
    const client = tls.connect({ port, host: "127.0.0.1", servername: "localhost", ca: pki.ca.cert, cert: pki.paymentsClient.cert, key: pki.paymentsClient.key });
    client.on("data", () => undefined).on("error", () => undefined);
  });
});
console.log(`tlsSocket.getPeerCertificate() (grpc-js getAuthContext() per call): ${peerCertificateUs.toFixed(1)} µs per call`);
const peer = new X509Certificate(pki.paymentsClient.cert).toLegacyObject();
const M = 200_000;
let t = process.hrtime.bigint();
for (let i = 0; i < M; i++) principalFromCertificate(peer);
console.log(`principalFromCertificate(): ${(Number(process.hrtime.bigint() - t) / M).toFixed(0)} ns per call`);
pki.cleanup();

const dir = mkdtempSync(path.join(tmpdir(), "bench-jwt-"));
for (const alg of ["ES256", "RS256", "EdDSA"] as const) {
  const { publicKey, privateKey } = await generateKeyPair(alg);
  writeFileSync(path.join(dir, `${alg}.json`), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "k", alg }] }));
  const verifier = await JwtVerifier.create({ issuer: "i", audience: "a", jwksFile: path.join(dir, `${alg}.json`) });
  const header = `Bearer ${await new SignJWT({ sub: "svc" }).setProtectedHeader({ alg, kid: "k" }).setIssuer("i").setAudience("a").setExpirationTime("1h").sign(privateKey)}`;
  for (let i = 0; i < 200; i++) await verifier.verify(header);
  const K = 5_000;
  t = process.hrtime.bigint();
  for (let i = 0; i < K; i++) await verifier.verify(header);
  console.log(`JwtVerifier.verify() ${alg}: ${(Number(process.hrtime.bigint() - t) / K / 1000).toFixed(1)} µs per call (sequential)`);
}
rmSync(dir, { recursive: true, force: true });
