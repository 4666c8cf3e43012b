/**
 * Transport guards against abusive peers (HTTP/2 rapid reset, header floods,
 * idle-connection hoarding, slowloris) and the opt-in diagnostics log line.
 * Read with the rest of the configuration (config.ts); docs/HTTP2.md says
 * which setting guards which attack and what was measured.
 */
import { intFromEnv, type Env } from "./env.js";

const MINUTE_MS = 60_000;


export interface TransportGuards {
  /**
   * `GRPC_MAX_SESSION_MEMORY_MB`: memory one HTTP/2 session (connection) of
   * the gRPC port may hold in buffered frames, headers and pending streams
   * before Node refuses new streams on it (`grpc-node.max_session_memory`).
   * Default 32 MiB: grpc-js would otherwise switch Node's limit off entirely,
   * leaving one connection free to buffer without bound; 32 MiB is far above
   * what 1000 concurrent 1 MiB-capped calls need in flight at once.
   */
  grpcMaxSessionMemoryMb: number;
  /**
   * `GRPC_MAX_CONNECTION_IDLE_MS`: a gRPC connection with no call for this
   * long gets a GOAWAY and is closed (`grpc.max_connection_idle_ms`).
   * Default 300000 ms (5 min): connections opened and held without calls
   * (hoarding file descriptors and session memory) are reaped, while a
   * client that calls at least every few minutes keeps its connection. 0 turns it off.
   */
  grpcMaxConnectionIdleMs: number;
  /**
   * `GRPC_MAX_CONNECTION_AGE_MS`: every gRPC connection is asked to go away
   * (GOAWAY, then reconnect) after this long (`grpc.max_connection_age_ms`).
   * Default 1800000 ms (30 min): bounds what any one connection can accumulate
   * and lets clients spread again over workers or instances. 0 turns it off.
   */
  grpcMaxConnectionAgeMs: number;
  /**
   * `GRPC_MAX_CONNECTION_AGE_GRACE_MS`: how long calls in flight on an aged
   * connection may finish before it is closed (`grpc.max_connection_age_grace_ms`).
   * Default 30000 ms: the default call deadline (MAX_DEADLINE_MS).
   */
  grpcMaxConnectionAgeGraceMs: number;
  /**
   * `CONNECT_MAX_CONNECTIONS`: most open sockets on the Connect port
   * (`server.maxConnections`); more are closed on accept. Default 1000: far
   * above browsers' and curl's needs, well under the usual 1024-descriptor
   * soft limit shared with the gRPC port and the database pool. 0 turns it off.
   */
  connectMaxConnections: number;
  /**
   * `CONNECT_IDLE_TIMEOUT_MS`: how long a keep-alive connection of the
   * Connect port may sit idle between requests (`server.keepAliveTimeout`).
   * Default 65000 ms: outlives the usual 60 s idle timeout of load balancers
   * (which must close first), and reaps idle connections after that.
   */
  connectIdleTimeoutMs: number;
  /**
   * `CONNECT_HEADERS_TIMEOUT_MS`: time a client has to send a whole request
   * head on the Connect port (`server.headersTimeout`). Default 10000 ms
   * (Node's is 60 s): a slowloris client trickling header bytes holds a
   * socket for 10 s at most.
   */
  connectHeadersTimeoutMs: number;
  /**
   * `CONNECT_MAX_HEADER_BYTES`: largest request head (request line and
   * headers) on the Connect port (`maxHeaderSize`); larger gets 431. Default
   * 16384, Node's own default, stated so that it is tunable and cannot drift.
   */
  connectMaxHeaderBytes: number;
  /**
   * `DIAGNOSTICS_INTERVAL_MS`: every this often each process logs one
   * `diagnostics` line (rss, heapUsed, event-loop delay p99 and max, pool
   * waits). Default 0: off; the soak (bench/soak.ts) turns it on.
   */
  diagnosticsIntervalMs: number;
}

export function loadTransportGuards(env: Env): TransportGuards {
  return {
    grpcMaxSessionMemoryMb: intFromEnv(env, "GRPC_MAX_SESSION_MEMORY_MB", 32, 1, 4096),
    grpcMaxConnectionIdleMs: intFromEnv(env, "GRPC_MAX_CONNECTION_IDLE_MS", 5 * MINUTE_MS, 0, 24 * 60 * MINUTE_MS),
    grpcMaxConnectionAgeMs: intFromEnv(env, "GRPC_MAX_CONNECTION_AGE_MS", 30 * MINUTE_MS, 0, 7 * 24 * 60 * MINUTE_MS),
    grpcMaxConnectionAgeGraceMs: intFromEnv(env, "GRPC_MAX_CONNECTION_AGE_GRACE_MS", 30_000, 0, 60 * MINUTE_MS),
    connectMaxConnections: intFromEnv(env, "CONNECT_MAX_CONNECTIONS", 1000, 0, 1_000_000),
    connectIdleTimeoutMs: intFromEnv(env, "CONNECT_IDLE_TIMEOUT_MS", 65_000, 1_000, 60 * MINUTE_MS),
    connectHeadersTimeoutMs: intFromEnv(env, "CONNECT_HEADERS_TIMEOUT_MS", 10_000, 1_000, 10 * MINUTE_MS),
    connectMaxHeaderBytes: intFromEnv(env, "CONNECT_MAX_HEADER_BYTES", 16 * 1024, 1024, 1024 * 1024),
    diagnosticsIntervalMs: intFromEnv(env, "DIAGNOSTICS_INTERVAL_MS", 0, 0, 60 * MINUTE_MS),
  };
}

/** The grpc-js server options of the guards (0 = off leaves grpc-js's own unlimited default). */
export function grpcGuardOptions(g: TransportGuards): Record<string, number> {
  return {
    "grpc-node.max_session_memory": g.grpcMaxSessionMemoryMb, // Node counts this option in MB
    ...(g.grpcMaxConnectionIdleMs > 0 ? { "grpc.max_connection_idle_ms": g.grpcMaxConnectionIdleMs } : {}),
    ...(g.grpcMaxConnectionAgeMs > 0
      ? { "grpc.max_connection_age_ms": g.grpcMaxConnectionAgeMs, "grpc.max_connection_age_grace_ms": g.grpcMaxConnectionAgeGraceMs }
      : {}),
  };
}


