/**
 * The secured service for end-to-end tests: started like test/support/server.ts
 * but with a logger the test can read, clients that speak TLS (with a client
 * certificate and/or a bearer token) to either port, real JWTs signed by a
 * key whose JWKS is in a file, policy files, and a snapshot of what the
 * database holds (to show a refused call changed nothing).
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from "jose";
import { pino, type Logger } from "pino";
import { AuditService } from "../../src/gen/aevon/audit/v1/audit_pb.js";
import { IdentityService } from "../../src/gen/aevon/identity/v1/identity_pb.js";
import { LedgerService } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { RetryInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { loadConfig } from "../../src/lib/config.js";
import { startServer, type RunningServer } from "../../src/server/app.js";
import type { ConnectError } from "@connectrpc/connect";
import { createTestDatabase, type TestDatabase } from "./db.js";

export const ISSUER = "https://issuer.aevon.test";
export const AUDIENCE = "ledger-of-record";

/** A logger whose JSON lines the test can read. */
export function recordingLogger(level = "info"): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

export interface SecureServer extends RunningServer {
  database: TestDatabase;
  close(): Promise<void>;
}

/** Starts the real service (direct PostgreSQL) with `env` over the test defaults, on a fresh database unless one is given. */
export async function startSecureServer(env: Record<string, string>, options: { database?: TestDatabase; logger?: Logger } = {}): Promise<SecureServer> {
  const database = options.database ?? (await createTestDatabase());
  const config = loadConfig({
    DATABASE_URL: database.url,
    HOST: "127.0.0.1",
    PORT: "0",
    CONNECT_PORT: "0", METRICS_PORT: "-1",
    DB_POOL_MAX: "4",
    SHUTDOWN_DRAIN_MS: "2000",
    ...env,
  });
  let server: RunningServer;
  try {
    server = await startServer(config, options.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }));
  } catch (error) {
    if (!options.database) await database.drop();
    throw error;
  }
  return {
    ...server,
    database,
    close: async () => {
      await server.stop();
      await database.drop();
    },
  };
}

/** Loads the configuration and starts the service with `env` (as main.ts does); returns why it refused to (fails the test if it started). */
export async function startFailure(env: Record<string, string>, database: TestDatabase, logger?: Logger): Promise<Error> {
  let server: RunningServer;
  try {
    const config = loadConfig({ DATABASE_URL: database.url, HOST: "127.0.0.1", PORT: "0", CONNECT_PORT: "0", METRICS_PORT: "-1", ...env });
    server = await startServer(config, logger ?? pino({ level: "silent" }));
  } catch (error) {
    return error as Error;
  }
  await server.stop();
  throw new Error("expected the service to refuse to start; it started");
}

// --- tokens ------------------------------------------------------------------

export interface TokenIssuer {
  /** The JWKS file holding the issuer's public key (JWT_JWKS_FILE). */
  jwksFile: string;
  /** The env that turns JWT on with this issuer. */
  env: Record<string, string>;
  /** A valid ES256 token for `sub`, 5 minutes; `claims` override. */
  token(sub: string, claims?: JWTPayload): Promise<string>;
  /** A token with the same key id, signed by another key (a forgery). */
  forged(sub: string): Promise<string>;
}

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

async function sign(key: KeyPair, kid: string, claims: JWTPayload): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid }).sign(key.privateKey);
}

/** An issuer with one ES256 key, whose JWKS is written to `dir`. */
export async function makeTokenIssuer(dir: string): Promise<TokenIssuer> {
  const [key, rogue] = await Promise.all([generateKeyPair("ES256", { extractable: true }), generateKeyPair("ES256", { extractable: true })]);
  const kid = "issuer-key-1";
  const jwk: JWK = { ...(await exportJWK(key.publicKey)), kid, alg: "ES256", use: "sig" };
  const jwksFile = path.join(dir, "jwks.json");
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
  const claimsOf = (sub: string, claims: JWTPayload = {}): JWTPayload => {
    const now = Math.floor(Date.now() / 1000);
    return { iss: ISSUER, aud: AUDIENCE, sub, iat: now, exp: now + 300, ...claims };
  };
  return {
    jwksFile,
    env: { JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, JWT_JWKS_FILE: jwksFile },
    token: (sub, claims) => sign(key, kid, claimsOf(sub, claims)),
    forged: (sub) => sign(rogue, kid, claimsOf(sub)),
  };
}

// --- clients -----------------------------------------------------------------

/** Who calls: the CA that signed the server's certificate, and optionally a client certificate, a bearer token and an `x-actor`. */
export interface Caller {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  actor?: string;
}

export interface SecureClients {
  ledger: Client<typeof LedgerService>;
  identity: Client<typeof IdentityService>;
  audit: Client<typeof AuditService>;
  transport: Transport;
}

function headersInterceptor(caller: Caller): Interceptor {
  return (next) => (req) => {
    if (caller.token !== undefined) req.header.set("authorization", `Bearer ${caller.token}`);
    if (caller.actor !== undefined) req.header.set("x-actor", caller.actor);
    return next(req);
  };
}

/**
 * Clients over TLS to one port: `grpc` (the gRPC protocol over HTTP/2 to the
 * grpc-js port) or `connect` (the Connect protocol over HTTPS/1.1).
 */
export function secureClients(server: { grpcPort: number; connectPort: number }, caller: Caller, port: "grpc" | "connect"): SecureClients {
  const tlsOptions = { ca: caller.ca, cert: caller.cert, key: caller.key, servername: "localhost" };
  const interceptors = [headersInterceptor(caller)];
  const transport =
    port === "grpc"
      ? createGrpcTransport({ baseUrl: `https://127.0.0.1:${server.grpcPort}`, nodeOptions: tlsOptions, interceptors })
      : createConnectTransport({ baseUrl: `https://127.0.0.1:${server.connectPort}`, httpVersion: "1.1", nodeOptions: { ...tlsOptions, agent: false }, interceptors });
  return {
    ledger: createClient(LedgerService, transport),
    identity: createClient(IdentityService, transport),
    audit: createClient(AuditService, transport),
    transport,
  };
}

/** The delay a refusal's google.rpc.RetryInfo asks for, in ms (undefined without one). */
export function retryDelayMsOf(error: ConnectError): number | undefined {
  const info = error.findDetails(RetryInfoSchema)[0];
  if (!info?.retryDelay) return undefined;
  return Number(info.retryDelay.seconds) * 1000 + info.retryDelay.nanos / 1e6;
}

// --- policies and state --------------------------------------------------------

/** Writes a policy (as JSON) into `dir` and returns its path. */
export function writePolicy(dir: string, name: string, policy: unknown): string {
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(policy, null, 2));
  return file;
}

/**
 * What the database holds, in numbers that any write moves: rows of every
 * table a call can write, and the sum of account versions (every posting
 * bumps one). Seals are left out: the background sealer writes them.
 */
export async function databaseState(db: TestDatabase): Promise<Record<string, string>> {
  const { rows } = await db.sql<Record<string, string>>(`
    SELECT (SELECT count(*) FROM users)::text AS users,
           (SELECT count(*) FROM external_identities)::text AS external_identities,
           (SELECT count(*) FROM accounts)::text AS accounts,
           (SELECT coalesce(sum(version), 0) FROM accounts)::text AS account_versions,
           (SELECT count(*) FROM transfers)::text AS transfers,
           (SELECT count(*) FROM entries)::text AS entries,
           (SELECT count(*) FROM holds)::text AS holds,
           (SELECT count(*) FROM idempotency_keys)::text AS idempotency_keys,
           (SELECT count(*) FROM audit_events)::text AS audit_events`);
  return rows[0]!;
}
