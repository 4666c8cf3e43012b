/** Draining the two transports within a bound: refuse new calls, let in-flight ones finish, then cut them. */
import type http from "node:http";
import type * as grpc from "@grpc/grpc-js";

/** Stops the gRPC server gracefully, forcing it after `drainMs`. */
export function drainGrpc(server: grpc.Server, drainMs: number): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => server.forceShutdown(), drainMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

/** Stops the HTTP server gracefully (idle connections at once), cutting the rest after `drainMs`. */
export function drainHttp(server: http.Server | undefined, drainMs: number): Promise<void> {
  if (!server) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => server.closeAllConnections(), drainMs);
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}
