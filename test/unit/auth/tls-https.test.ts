/**
 * The Connect port's side of ReloadableTls: a real node:https server built from
 * secureServerOptions() and kept current by attachSecureServer().
 */
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { principalFromCertificate } from "../../../src/auth/certificates.js";
import { ReloadableTls } from "../../../src/auth/tls.js";
import { makeTestPki, PAYMENTS_SPIFFE_ID, type IssuedCertificate, type TestPki } from "../../support/certs.js";

let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => pki.cleanup());

interface Answer {
  principal: string | null;
  serverFingerprint: string;
  localPort: number;
}

function get(port: number, client: IssuedCertificate | undefined, agent: https.Agent | false = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: "127.0.0.1", servername: "localhost", port, path: "/", ca: pki.ca.cert, cert: client?.cert, key: client?.key, agent },
      (res) => {
        const socket = res.socket as TLSSocket;
        const serverFingerprint = socket.getPeerCertificate().fingerprint256;
        const localPort = socket.localPort!;
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ principal: (JSON.parse(body) as { principal: string | null }).principal, serverFingerprint, localPort }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

function replaceFile(file: string, contents: Buffer): void {
  writeFileSync(`${file}.tmp`, contents);
  renameSync(`${file}.tmp`, file);
}

describe("node:https with ReloadableTls", () => {
  it("requires a client certificate from the client CA, exposes its principal, and applies reloads to new handshakes", async () => {
    const dir = path.join(pki.dir, "https");
    mkdirSync(dir);
    const files = { certFile: path.join(dir, "tls.crt"), keyFile: path.join(dir, "tls.key"), clientCaFile: path.join(dir, "ca.crt") };
    copyFileSync(pki.server.certFile, files.certFile);
    copyFileSync(pki.server.keyFile, files.keyFile);
    copyFileSync(pki.ca.certFile, files.clientCaFile);
    const tls = await ReloadableTls.load({ ...files, watch: false, pollIntervalMs: 0 });
    expect(tls.secureServerOptions()).toMatchObject({ requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" });

    const server = https.createServer(tls.secureServerOptions(), (req, res) => {
      res.end(JSON.stringify({ principal: principalFromCertificate((req.socket as TLSSocket).getPeerCertificate()) ?? null }));
    });
    const detach = tls.attachSecureServer(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get(port, pki.paymentsClient, keepAlive);
      expect(first.principal).toBe(PAYMENTS_SPIFFE_ID);
      expect(first.serverFingerprint).toBe(new X509Certificate(pki.server.cert).fingerprint256);
      await expect(get(port, pki.otherCaClient)).rejects.toThrow();
      await expect(get(port, undefined)).rejects.toThrow();

      const rotated = pki.issue({ name: "https-rotated", cn: "localhost", san: ["DNS:localhost"], usage: "server" });
      replaceFile(files.certFile, rotated.cert);
      replaceFile(files.keyFile, rotated.key);
      replaceFile(files.clientCaFile, Buffer.concat([pki.ca.cert, pki.otherCa.cert]));
      expect(await tls.reload()).toMatchObject({ type: "reloaded", clientCaCount: 2 });

      const fresh = await get(port, pki.otherCaClient);
      expect(fresh.principal).toBe(PAYMENTS_SPIFFE_ID);
      expect(fresh.serverFingerprint).toBe(new X509Certificate(rotated.cert).fingerprint256);
      // The kept-alive connection from before the reload is still the one in use.
      const again = await get(port, pki.paymentsClient, keepAlive);
      expect(again.localPort).toBe(first.localPort);
      expect(again.serverFingerprint).toBe(first.serverFingerprint);

      // Detached: later reloads no longer reach this server.
      detach();
      replaceFile(files.certFile, pki.server.cert);
      replaceFile(files.keyFile, pki.server.key);
      expect((await tls.reload()).type).toBe("reloaded");
      expect((await get(port, pki.paymentsClient)).serverFingerprint).toBe(new X509Certificate(rotated.cert).fingerprint256);
    } finally {
      keepAlive.destroy();
      tls.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("serves server-only TLS (no client certificate requested) without a client CA file", async () => {
    const tls = await ReloadableTls.load({ certFile: pki.server.certFile, keyFile: pki.server.keyFile, watch: false, pollIntervalMs: 0 });
    expect(tls.requiresClientCertificate).toBe(false);
    expect(tls.secureServerOptions()).toMatchObject({ requestCert: false, rejectUnauthorized: false });
    expect(tls.secureServerOptions().ca).toBeUndefined();
    tls.close();
  });
});
