/**
 * Reloadable TLS on a real grpc-js server with real certificates: mTLS is
 * enforced in the handshake, the handler sees the peer certificate through
 * call.getAuthContext(), and reloads (reload(), SIGHUP, file changes) reach
 * new connections while open ones carry on.
 */
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ReloadableTls, watchSighup, type TlsReloadEvent } from "../../../src/auth/tls.js";
import { makeTestPki, PAYMENTS_SPIFFE_ID, type IssuedCertificate, type TestPki } from "../../support/certs.js";
import { until } from "../../support/poll.js";
import { callFailure, echoClient, startEchoServer, type EchoClient } from "../../support/tls-echo.js";

let pki: TestPki;
let rotatedServer: IssuedCertificate;
const cleanups: (() => void)[] = [];

beforeAll(() => {
  pki = makeTestPki();
  rotatedServer = pki.issue({ name: "server-rotated", cn: "localhost", san: ["DNS:localhost", "IP:127.0.0.1"], usage: "server" });
});
afterAll(() => pki.cleanup());
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

function fingerprintOf(cert: IssuedCertificate): string {
  return new X509Certificate(cert.cert).fingerprint256;
}

/** A folder holding tls.crt / tls.key / ca.crt copied from the given material. */
function liveFolder(name: string, server: IssuedCertificate, clientCa: Buffer): { certFile: string; keyFile: string; clientCaFile: string } {
  const dir = path.join(pki.dir, name);
  mkdirSync(dir);
  const files = { certFile: path.join(dir, "tls.crt"), keyFile: path.join(dir, "tls.key"), clientCaFile: path.join(dir, "ca.crt") };
  copyFileSync(server.certFile, files.certFile);
  copyFileSync(server.keyFile, files.keyFile);
  writeFileSync(files.clientCaFile, clientCa);
  return files;
}

/** Replaces a file the way editors and most tools do: write aside, rename over. */
function replaceFile(file: string, contents: Buffer): void {
  writeFileSync(`${file}.tmp`, contents);
  renameSync(`${file}.tmp`, file);
}

async function serve(options: Parameters<typeof ReloadableTls.load>[0]) {
  const events: TlsReloadEvent[] = [];
  const tls = await ReloadableTls.load({ pollIntervalMs: 0, watch: false, ...options, onEvent: (e) => events.push(e) });
  const { server, address, handled } = await startEchoServer(tls.grpcServerCredentials());
  cleanups.push(() => {
    tls.close();
    server.forceShutdown();
  });
  const client = (cert?: IssuedCertificate): EchoClient => {
    const c = echoClient(address, pki.ca.cert, cert);
    cleanups.push(() => c.close());
    return c;
  };
  return { tls, events, address, handled, client };
}

describe("grpc-js with ReloadableTls credentials", () => {
  it("shows the handler the client certificate's principal through call.getAuthContext()", async () => {
    const { client } = await serve(liveFolder("principal", pki.server, pki.ca.cert));
    expect(await client(pki.paymentsClient).whoAmI()).toMatchObject({ transportSecurityType: "ssl", principal: PAYMENTS_SPIFFE_ID });
    expect((await client(pki.dnsClient).whoAmI()).principal).toBe("auditor.aevon.internal");
    expect((await client(pki.cnClient).whoAmI()).principal).toBe("legacy-batch-job");
  });

  it("refuses in the handshake a client certificate from another CA, an expired one, and none at all", async () => {
    const { client, handled } = await serve(liveFolder("refuse", pki.server, pki.ca.cert));
    for (const cert of [pki.otherCaClient, pki.expiredClient, undefined]) {
      const error = await callFailure(client(cert).whoAmI());
      expect(error.code).toBe(grpc.status.UNAVAILABLE);
    }
    expect(handled()).toBe(0);
    // The same server still serves a good client.
    expect((await client(pki.paymentsClient).whoAmI()).principal).toBe(PAYMENTS_SPIFFE_ID);
  });

  it("after reload(), new connections get the new server certificate and client CA; open ones carry on", async () => {
    const files = liveFolder("reload", pki.server, pki.ca.cert);
    const { tls, events, client } = await serve(files);
    const before = client(pki.paymentsClient);
    const first = await before.whoAmI();
    expect(before.serverFingerprint()).toBe(fingerprintOf(pki.server));
    expect((await callFailure(client(pki.otherCaClient).whoAmI())).code).toBe(grpc.status.UNAVAILABLE);

    replaceFile(files.certFile, rotatedServer.cert);
    replaceFile(files.keyFile, rotatedServer.key);
    replaceFile(files.clientCaFile, pki.otherCa.cert);
    // Nothing changes until the reload.
    const stillOld = client(pki.paymentsClient);
    await stillOld.whoAmI();
    expect(stillOld.serverFingerprint()).toBe(fingerprintOf(pki.server));

    const outcome = await tls.reload();
    expect(outcome).toMatchObject({ type: "reloaded", trigger: "manual", fingerprint256: fingerprintOf(rotatedServer), clientCaCount: 1 });
    expect(events.map((e) => e.type)).toEqual(["reloaded"]);

    const fresh = client(pki.otherCaClient);
    expect((await fresh.whoAmI()).principal).toBe(PAYMENTS_SPIFFE_ID);
    expect(fresh.serverFingerprint()).toBe(fingerprintOf(rotatedServer));
    // The old CA is no longer trusted for new connections...
    expect((await callFailure(client(pki.paymentsClient).whoAmI())).code).toBe(grpc.status.UNAVAILABLE);
    // ...but the connection opened before the reload is still up (same client port).
    expect((await before.whoAmI()).peer).toBe(first.peer);
  });

  it("keeps serving the old material when the new files are invalid, and says why", async () => {
    const files = liveFolder("invalid", pki.server, pki.ca.cert);
    const { tls, events, client } = await serve(files);
    replaceFile(files.certFile, rotatedServer.cert); // key left as is: a mismatched pair
    const outcome = await tls.reload();
    expect(outcome.type).toBe("rejected");
    expect(outcome.type === "rejected" && outcome.error).toMatch(/TLS_KEY_FILE: the key does not match/);
    expect(events).toEqual([outcome]);
    const c = client(pki.paymentsClient);
    expect((await c.whoAmI()).principal).toBe(PAYMENTS_SPIFFE_ID);
    expect(c.serverFingerprint()).toBe(fingerprintOf(pki.server));
    replaceFile(files.clientCaFile, Buffer.from(pki.paymentsClient.cert)); // a leaf is not a CA
    replaceFile(files.keyFile, rotatedServer.key);
    expect(await tls.reload()).toMatchObject({ type: "rejected", error: expect.stringMatching(/TLS_CLIENT_CA_FILE: certificate 0 .* is not a CA/) });
  });

  it("reloads on SIGHUP once watchSighup is installed", async () => {
    const files = liveFolder("sighup", pki.server, pki.ca.cert);
    const { tls, events, client } = await serve(files);
    const dispose = watchSighup(() => tls.reload("sighup"));
    cleanups.push(dispose);
    replaceFile(files.certFile, rotatedServer.cert);
    replaceFile(files.keyFile, rotatedServer.key);
    process.kill(process.pid, "SIGHUP");
    const seen = await until(async () => events, (e) => e.length > 0);
    expect(seen).toEqual([expect.objectContaining({ type: "reloaded", trigger: "sighup" })]);
    const c = client(pki.paymentsClient);
    await c.whoAmI();
    expect(c.serverFingerprint()).toBe(fingerprintOf(rotatedServer));
  });

  it("picks up a Kubernetes-style ..data symlink swap through the folder watch", async () => {
    const dir = path.join(pki.dir, "k8s");
    const generation = (name: string, server: IssuedCertificate) => {
      mkdirSync(path.join(dir, name), { recursive: true });
      copyFileSync(server.certFile, path.join(dir, name, "tls.crt"));
      copyFileSync(server.keyFile, path.join(dir, name, "tls.key"));
      copyFileSync(pki.ca.certFile, path.join(dir, name, "ca.crt"));
    };
    generation("..2026_a", pki.server);
    const { symlinkSync } = await import("node:fs");
    symlinkSync("..2026_a", path.join(dir, "..data"));
    for (const f of ["tls.crt", "tls.key", "ca.crt"]) symlinkSync(`..data/${f}`, path.join(dir, f));
    const { events, client } = await serve({
      certFile: path.join(dir, "tls.crt"), keyFile: path.join(dir, "tls.key"), clientCaFile: path.join(dir, "ca.crt"),
      watch: true, pollIntervalMs: 0, debounceMs: 50,
    });
    generation("..2026_b", rotatedServer);
    symlinkSync("..2026_b", path.join(dir, "..data_tmp"));
    renameSync(path.join(dir, "..data_tmp"), path.join(dir, "..data"));
    const seen = await until(async () => events, (e) => e.length > 0, 5_000);
    expect(seen).toEqual([expect.objectContaining({ type: "reloaded", trigger: "watch", fingerprint256: fingerprintOf(rotatedServer) })]);
    const c = client(pki.paymentsClient);
    await c.whoAmI();
    expect(c.serverFingerprint()).toBe(fingerprintOf(rotatedServer));
  });

  it("picks up replaced files by polling when watching is off, reporting a bad content once", async () => {
    const files = liveFolder("poll", pki.server, pki.ca.cert);
    const { events } = await serve({ ...files, watch: false, pollIntervalMs: 20 });
    replaceFile(files.certFile, rotatedServer.cert);
    await until(async () => events, (e) => e.length > 0, 5_000);
    await new Promise((r) => setTimeout(r, 200)); // ten more polls of the same bad pair
    expect(events).toEqual([expect.objectContaining({ type: "rejected", trigger: "poll" })]);
    replaceFile(files.keyFile, rotatedServer.key);
    const seen = await until(async () => events, (e) => e.length > 1, 5_000);
    expect(seen[1]).toMatchObject({ type: "reloaded", trigger: "poll", fingerprint256: fingerprintOf(rotatedServer) });
  });

  it("serves server-only TLS without a client CA file: no certificate asked, so no certificate principal", async () => {
    const { client } = await serve({ certFile: pki.server.certFile, keyFile: pki.server.keyFile });
    const c = client();
    expect(await c.whoAmI()).toMatchObject({ principal: null });
    expect(c.serverFingerprint()).toBe(fingerprintOf(pki.server));
  });

  it("refuses to start on invalid material, naming the variable", async () => {
    const files = liveFolder("bad-start", pki.server, pki.ca.cert);
    writeFileSync(files.keyFile, "not a key");
    await expect(ReloadableTls.load({ ...files, watch: false })).rejects.toThrow(/^TLS_KEY_FILE: not an unencrypted PEM private key$/);
    await expect(ReloadableTls.load({ ...files, keyFile: path.join(pki.dir, "missing.key"), watch: false })).rejects.toThrow(/TLS_KEY_FILE .*missing\.key: ENOENT/);
    await expect(ReloadableTls.load({ ...files, certFile: pki.expiredClient.certFile, keyFile: pki.expiredClient.keyFile, watch: false })).rejects.toThrow(/TLS_CERT_FILE: the certificate expired/);
  });
});
