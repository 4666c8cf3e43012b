/**
 * Raw mTLS clients for the security tests: a grpc-js client from the .proto
 * files and a node:https POST to the Connect port, each on a new connection,
 * each telling which server certificate the handshake showed.
 */
import { checkServerIdentity, type PeerCertificate, type TLSSocket } from "node:tls";
import https from "node:https";
import * as grpc from "@grpc/grpc-js";
import { loadClient } from "./foreign-client.js";

export interface ClientMaterial {
  cert: Buffer;
  key: Buffer;
}

/** A grpc-js LedgerService client on its own connection; `serverFingerprint()` is the certificate the server showed. */
export function grpcLedger(port: number, ca: Buffer, client: ClientMaterial | undefined) {
  let seen: string | undefined;
  const credentials = grpc.credentials.createSsl(ca, client?.key ?? null, client?.cert ?? null, {
    checkServerIdentity: (host: string, cert: PeerCertificate) => {
      seen = cert.fingerprint256;
      return checkServerIdentity(host, cert);
    },
  });
  // A unique option keeps grpc-js from reusing another client's connection.
  const ledger = loadClient("aevon/ledger/v1/ledger.proto", "aevon.ledger.v1.LedgerService", `127.0.0.1:${port}`, credentials, {
    "test.unique": Math.random(),
    "grpc.ssl_target_name_override": "localhost",
  });
  return { ledger, serverFingerprint: () => seen };
}

export interface HttpsAnswer {
  status: number;
  body: string;
  serverFingerprint: string;
}

/** POSTs `body` (JSON) to a Connect method over a new TLS connection; rejects when the handshake or the connection fails. */
export function connectPost(port: number, method: string, ca: Buffer, client: ClientMaterial | undefined, body: unknown = {}): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        port,
        servername: "localhost",
        path: `/${method}`,
        method: "POST",
        headers: { "content-type": "application/json" },
        ca,
        cert: client?.cert,
        key: client?.key,
        agent: false,
      },
      (res) => {
        const serverFingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text, serverFingerprint }));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

/** The error a request expected to fail rejected with. */
export async function refusal(call: Promise<unknown>): Promise<Error & { code?: string | number }> {
  try {
    await call;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error("expected the connection to be refused; the call succeeded");
}
