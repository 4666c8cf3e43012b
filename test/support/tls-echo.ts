/**
 * A real grpc-js server with one method, `/test.Echo/WhoAmI`, that answers
 * what the handler sees of the caller: the auth context's transport type,
 * the principal of the peer certificate and the peer address. And a client
 * that records the server certificate it was shown during the handshake.
 * Messages are raw JSON bytes: no .proto needed.
 */
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { principalFromCertificate } from "../../src/auth/certificates.js";

export interface WhoAmI {
  transportSecurityType: string | null;
  principal: string | null;
  peer: string;
}

const passThrough = (b: Buffer): Buffer => b;

const service: grpc.ServiceDefinition = {
  WhoAmI: {
    path: "/test.Echo/WhoAmI",
    requestStream: false,
    responseStream: false,
    requestSerialize: passThrough,
    requestDeserialize: passThrough,
    responseSerialize: passThrough,
    responseDeserialize: passThrough,
  },
};

export async function startEchoServer(credentials: grpc.ServerCredentials): Promise<{ server: grpc.Server; address: string; handled: () => number }> {
  const server = new grpc.Server();
  let handled = 0;
  server.addService(service, {
    WhoAmI: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      handled++;
      const auth = call.getAuthContext();
      const answer: WhoAmI = {
        transportSecurityType: auth.transportSecurityType ?? null,
        principal: principalFromCertificate(auth.sslPeerCertificate) ?? null,
        peer: call.getPeer(),
      };
      callback(null, Buffer.from(JSON.stringify(answer)));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", credentials, (error, p) => (error ? reject(error) : resolve(p))),
  );
  return { server, address: `127.0.0.1:${port}`, handled: () => handled };
}

export interface EchoClient {
  whoAmI(): Promise<WhoAmI>;
  /** SHA-256 fingerprint of the server certificate of the last handshake. */
  serverFingerprint(): string | undefined;
  close(): void;
}

/** A client on its own channel (a new connection). `cert`/`key` omitted: no client certificate. */
export function echoClient(address: string, rootCa: Buffer, client?: { cert: Buffer; key: Buffer }): EchoClient {
  let seen: string | undefined;
  const credentials = grpc.credentials.createSsl(rootCa, client?.key ?? null, client?.cert ?? null, {
    checkServerIdentity: (host: string, cert: PeerCertificate) => {
      seen = cert.fingerprint256;
      return checkServerIdentity(host, cert);
    },
  });
  // A unique option keeps grpc-js from sharing a subchannel (connection) between clients.
  const channel = new grpc.Client(address, credentials, { "test.unique": Math.random(), "grpc.ssl_target_name_override": "localhost" });
  return {
    whoAmI: () =>
      new Promise((resolve, reject) => {
        channel.makeUnaryRequest(
          "/test.Echo/WhoAmI",
          passThrough,
          passThrough,
          Buffer.from("{}"),
          { deadline: Date.now() + 10_000 },
          (error, value) => (error ? reject(error) : resolve(JSON.parse(value!.toString()) as WhoAmI)),
        );
      }),
    serverFingerprint: () => seen,
    close: () => channel.close(),
  };
}

/** Awaits a call expected to fail and returns its error. */
export async function callFailure(call: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await call;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error("expected the call to fail, it succeeded");
}
