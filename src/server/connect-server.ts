/**
 * Connect and gRPC-Web (JSON or binary over HTTP/1.1) for curl and browsers,
 * served by connect-node from the same handlers as the gRPC port; over HTTPS
 * with the same certificates (and client certificates for mTLS) when TLS is
 * configured.
 */
import http from "node:http";
import https from "node:https";
import type { TLSSocket } from "node:tls";
import { Code, ConnectError, createContextKey, createContextValues, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import { principalFromCertificate } from "../auth/certificates.js";
import type { ReloadableTls } from "../auth/tls.js";
import type { TransportGuards } from "../lib/config-transport.js";
import { DomainError } from "../domain/errors.js";
import { NO_OBSERVER, type Observer } from "../domain/observer.js";
import { mayDebitKey, observerKey, principalKey } from "../rpc/call-context.js";
import { toConnectError } from "../rpc/errors.js";
import type { ImplementedService } from "../rpc/implement.js";
import { groupOfPath, type Admission } from "./admission.js";
import { logCall, REQUEST_ID_HEADER, requestIdFrom } from "./call-log.js";
import type { CallMetrics } from "./metrics/instruments.js";
import { traceHooks } from "../lib/trace-hooks.js";
import { createStrictJsonDecoder } from "./json-decoder.js";

const peerKey = createContextKey<string>("unknown", { description: "remote address" });
const socketKey = createContextKey<TLSSocket | undefined>(undefined, { description: "the TLS socket, for its client certificate" });

export interface ConnectServerOptions {
  logger: Logger;
  maxReceiveMessageBytes: number;
  maxSendMessageBytes: number;
  /** Largest client timeout accepted (larger → INVALID_ARGUMENT, connect's rule). */
  maxDeadlineMs: number;
  shutdownSignal?: AbortSignal;
  /** Authentication, authorization and limits for every call. Default: none. */
  admission?: Admission;
  /** Serve HTTPS with this (reloadable) material; client certificates are then required when it has a client CA. Default: HTTP. */
  tls?: ReloadableTls;
  /** Connection cap, idle and header timeouts, header size (config-transport.ts). Default: Node's defaults and a 65 s idle timeout. */
  guards?: Pick<TransportGuards, "connectMaxConnections" | "connectIdleTimeoutMs" | "connectHeadersTimeoutMs" | "connectMaxHeaderBytes">;
  /** Counts calls, their durations and those in flight. Default: no metrics. */
  metrics?: CallMetrics;
  /** Told what the RPC layer reports for metrics (idempotent replays). Default: nobody. */
  observer?: Observer;
}

function loggingInterceptor(logger: Logger, metrics: CallMetrics | undefined): Interceptor {
  return (next) => async (req) => {
    const startedAtNs = process.hrtime.bigint();
    const sentRequestId = req.header.get(REQUEST_ID_HEADER);
    const requestId = requestIdFrom(sentRequestId);
    // A malformed id stays as sent: the handler refuses it by name.
    if (sentRequestId === null) req.header.set(REQUEST_ID_HEADER, requestId);
    const peer = req.contextValues.get(peerKey);
    const method = `/${req.service.typeName}/${req.method.name}`;
    metrics?.callStarted("connect_rpc", method);
    const span = traceHooks()?.call("connect_rpc", method, (name) => req.header.get(name) ?? undefined);
    try {
      const res = await (span ? span.run(() => next(req)) : next(req));
      res.header.set(REQUEST_ID_HEADER, requestId);
      logCall(logger, { protocol: req.requestMethod === "GET" ? "connect-get" : "connect", method, code: 0, startedAtNs, requestId, peer }, metrics, span);
      return res;
    } catch (thrown) {
      const error = thrown instanceof DomainError ? toConnectError(thrown) : ConnectError.from(thrown, Code.Internal);
      error.metadata.set(REQUEST_ID_HEADER, requestId);
      logCall(logger, { protocol: "connect", method, code: error.code, startedAtNs, requestId, peer, message: error.rawMessage }, metrics, span);
      throw error;
    }
  };
}

/** One principal per TLS connection: its certificate is read once, not per call. */
const principals = new WeakMap<TLSSocket, string | undefined>();

function certificatePrincipalOf(socket: TLSSocket | undefined): string | undefined {
  if (!socket) return undefined;
  if (!principals.has(socket)) principals.set(socket, socket.authorized ? principalFromCertificate(socket.getPeerCertificate()) : undefined);
  return principals.get(socket);
}

function admissionInterceptor(admission: Admission): Interceptor {
  return (next) => async (req) => {
    const path = `/${req.service.typeName}/${req.method.name}`;
    const caller = await admission.admit({
      path,
      group: groupOfPath(path, req.method.input.fields.some((f) => f.name === "idempotency_key")),
      header: (name) => req.header.get(name) ?? undefined,
      certificatePrincipal: () => certificatePrincipalOf(req.contextValues.get(socketKey)),
    });
    req.contextValues.set(principalKey, caller.principal);
    req.contextValues.set(mayDebitKey, caller.mayDebit);
    try {
      return await next(req);
    } finally {
      caller.release();
    }
  };
}

export function createConnectServer(services: ImplementedService[], options: ConnectServerOptions): http.Server {
  const handler = connectNodeAdapter({
    routes: (router) => {
      for (const entry of services) router.service(entry.service, entry.impl);
    },
    interceptors: [loggingInterceptor(options.logger, options.metrics), ...(options.admission ? [admissionInterceptor(options.admission)] : [])],
    contextValues: (req) =>
      createContextValues()
        .set(observerKey, options.observer ?? NO_OBSERVER)
        .set(peerKey, `${req.socket.remoteAddress}:${req.socket.remotePort}`)
        .set(socketKey, options.tls ? (req.socket as TLSSocket) : undefined),
    // Typed as connect-es' handler options; its JSON serialization reads textDecoder too.
    jsonOptions: { textDecoder: createStrictJsonDecoder() } as Record<string, unknown>,
    readMaxBytes: options.maxReceiveMessageBytes,
    writeMaxBytes: options.maxSendMessageBytes,
    maxTimeoutMs: options.maxDeadlineMs,
    shutdownSignal: options.shutdownSignal,
  });
  // Answers connect-es gives before any interceptor runs (an undecodable
  // body, an unknown method) carry an x-request-id too. A valid id sent is
  // kept; otherwise one is made here and handed to the interceptor, whose
  // own header (the same id) wins on every other answer.
  const withRequestId = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const sent = req.headers[REQUEST_ID_HEADER];
    const requestId = requestIdFrom(typeof sent === "string" ? sent : undefined);
    if (sent === undefined) req.headers[REQUEST_ID_HEADER] = requestId;
    res.setHeader(REQUEST_ID_HEADER, requestId);
    return handler(req, res);
  };
  const guards = options.guards;
  const headerLimit = guards ? { maxHeaderSize: guards.connectMaxHeaderBytes } : {};
  let server: http.Server;
  if (options.tls) {
    const secure = https.createServer({ ...options.tls.secureServerOptions(), ...headerLimit }, withRequestId);
    options.tls.attachSecureServer(secure);
    server = secure;
  } else {
    server = http.createServer(headerLimit, withRequestId);
  }
  // Outlive typical load-balancer idle timeouts (60 s), then reap idle keep-alive sockets.
  server.keepAliveTimeout = guards?.connectIdleTimeoutMs ?? 65_000;
  if (guards) {
    // A request head must arrive whole within this (slowloris); Node checks it every connectionsCheckingInterval (30 s by default).
    server.headersTimeout = guards.connectHeadersTimeoutMs;
    if (guards.connectMaxConnections > 0) server.maxConnections = guards.connectMaxConnections;
  }
  return server;
}
