/**
 * Connect and gRPC-Web (JSON or binary over HTTP/1.1) for curl and browsers,
 * served by connect-node from the same handlers as the gRPC port.
 */
import http from "node:http";
import { Code, ConnectError, createContextKey, createContextValues, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import type { ImplementedService } from "../rpc/implement.js";
import { logCall, REQUEST_ID_HEADER, requestIdFrom } from "./call-log.js";

const peerKey = createContextKey<string>("unknown", { description: "remote address" });

export interface ConnectServerOptions {
  logger: Logger;
  maxReceiveMessageBytes: number;
  maxSendMessageBytes: number;
  /** Largest client timeout accepted (larger → INVALID_ARGUMENT, connect's rule). */
  maxDeadlineMs: number;
  shutdownSignal?: AbortSignal;
}

function loggingInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const startedAtNs = process.hrtime.bigint();
    const requestId = requestIdFrom(req.header.get(REQUEST_ID_HEADER));
    req.header.set(REQUEST_ID_HEADER, requestId);
    const peer = req.contextValues.get(peerKey);
    const method = `/${req.service.typeName}/${req.method.name}`;
    try {
      const res = await next(req);
      res.header.set(REQUEST_ID_HEADER, requestId);
      logCall(logger, { protocol: req.requestMethod === "GET" ? "connect-get" : "connect", method, code: 0, startedAtNs, requestId, peer });
      return res;
    } catch (thrown) {
      const error = ConnectError.from(thrown, Code.Internal);
      error.metadata.set(REQUEST_ID_HEADER, requestId);
      logCall(logger, { protocol: "connect", method, code: error.code, startedAtNs, requestId, peer, message: error.rawMessage });
      throw error;
    }
  };
}

export function createConnectServer(services: ImplementedService[], options: ConnectServerOptions): http.Server {
  const handler = connectNodeAdapter({
    routes: (router) => {
      for (const entry of services) router.service(entry.service, entry.impl);
    },
    interceptors: [loggingInterceptor(options.logger)],
    contextValues: (req) => createContextValues().set(peerKey, `${req.socket.remoteAddress}:${req.socket.remotePort}`),
    readMaxBytes: options.maxReceiveMessageBytes,
    writeMaxBytes: options.maxSendMessageBytes,
    maxTimeoutMs: options.maxDeadlineMs,
    shutdownSignal: options.shutdownSignal,
  });
  const server = http.createServer(handler);
  server.keepAliveTimeout = 65_000; // outlive typical load-balancer idle timeouts (60 s)
  return server;
}
