/**
 * A local stand-in for Prisma Accelerate: Prisma's own query-plan executor
 * (`@prisma/query-plan-executor`, the HTTP executor behind Prisma Postgres and
 * `prisma dev`) on top of a real PostgreSQL, served over HTTP.
 *
 * A Prisma Client with `accelerateUrl` pointing here runs the Accelerate wire
 * path for real: every query and every step of an interactive transaction is
 * an HTTP round trip. The executor does not cache; Accelerate does, so the
 * fixture puts a cache in front of it that honours what the client sends
 * (`cache-control` ttl/swr, `accelerate-cache-tags`, `POST /invalidate`:
 * accelerate-cache.ts), and records every query's headers, how it was
 * answered, and the tags of every invalidation.
 */
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { Server, Temporal } from "@prisma/query-plan-executor";
import { AccelerateCache, type CacheStatus } from "./accelerate-cache.js";

/** One request the client sent to the executor. */
export interface RecordedQuery {
  path: string;
  /** `cache-control` as sent: `no-cache`, or `max-age=…[,stale-while-revalidate=…]`. */
  cacheControl: string | null;
  /** `accelerate-cache-tags`, split; empty when none were sent. */
  tags: string[];
  /** The request body (the query plan or transaction step), for telling queries apart. */
  body: string;
  /** How it was answered (set once answered): from the cache (`ttl`, `swr`), fetched and stored (`miss`), or not cacheable (`none`). */
  cacheStatus?: CacheStatus;
}

export interface QueryPlanExecutor {
  /** `prisma+postgres://127.0.0.1:PORT/?api_key=…`: use as DATABASE_URL. */
  url: string;
  /** Every HTTP request, in arrival order. */
  requests: RecordedQuery[];
  /** The `tags` of every `POST /invalidate`, in arrival order. */
  invalidations: string[][];
  /** The cache in front of the executor. */
  cache: AccelerateCache;
  /** Forgets what was recorded so far (not what is cached). */
  reset(): void;
  /** Stops serving (idempotent): clients now meet a refused connection. */
  stop(): Promise<void>;
}

export interface ExecutorLimits {
  /** Accelerate's query limit. Default 10 s. */
  queryTimeoutMs?: number;
  /** PostgreSQL's statement_timeout on the executor's connections. Default: the query limit; 0 sets none. */
  statementTimeoutMs?: number;
  /** Accelerate's interactive-transaction limit. Default 15 s. */
  maxTransactionTimeoutMs?: number;
  /** How long a transaction may wait to start. Default 5 s. */
  maxTransactionWaitMs?: number;
  /** Accelerate's response-size limit. Default 5 MB. */
  maxResponseBytes?: number;
}

let contextManagerInstalled = false;

/**
 * The executor keeps its logger in an OpenTelemetry context; without a global
 * context manager every request fails with "No active logger found".
 */
function installContextManager(): void {
  if (contextManagerInstalled) return;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  contextManagerInstalled = true;
}

/**
 * The executor's query limit gives up on a statement but does not cancel it
 * in PostgreSQL: the statement keeps its connection and its locks, and the
 * transaction's rollback queues behind it. A deployment gives Accelerate a
 * connection string whose `statement_timeout` matches the query limit (see
 * README); the fixture does the same.
 */
function withStatementTimeout(databaseUrl: string, timeoutMs: number): string {
  if (timeoutMs === 0) return databaseUrl;
  const url = new URL(databaseUrl);
  url.searchParams.set("options", `-c statement_timeout=${timeoutMs}`);
  return url.toString();
}

/** Where the executor listens: a given port and API key, to restart it where a client already points. */
export interface ExecutorListen {
  /** TCP port on 127.0.0.1. Default 0 (a free one). */
  port: number;
  /** The API key of the URL (checked by `/invalidate`). Default: a random one. */
  apiKey: string;
}

export async function startQueryPlanExecutor(databaseUrl: string, limits: ExecutorLimits = {}, listen?: ExecutorListen): Promise<QueryPlanExecutor> {
  installContextManager();
  const queryTimeoutMs = limits.queryTimeoutMs ?? 10_000;
  const executor = await Server.create({
    databaseUrl: withStatementTimeout(databaseUrl, limits.statementTimeoutMs ?? queryTimeoutMs),
    queryTimeout: Temporal.Duration.from({ milliseconds: queryTimeoutMs }),
    maxTransactionTimeout: Temporal.Duration.from({ milliseconds: limits.maxTransactionTimeoutMs ?? 15_000 }),
    maxTransactionWaitTime: Temporal.Duration.from({ milliseconds: limits.maxTransactionWaitMs ?? 5_000 }),
    maxResponseSize: limits.maxResponseBytes ?? 5_000_000,
    perRequestLogContext: { logLevel: (process.env.TEST_EXECUTOR_LOG_LEVEL ?? "off") as "off", logFormat: "text" },
  });
  const requests: RecordedQuery[] = [];
  const invalidations: string[][] = [];
  const cache = new AccelerateCache();
  const apiKey = listen?.apiKey ?? randomBytes(12).toString("hex");

  const fetch = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (request.method === "POST" && url.pathname === "/invalidate") {
      if (request.headers.get("authorization") !== `Bearer ${apiKey}`) return new Response("unauthorized", { status: 401 });
      const body = (await request.json()) as { tags: string[] | "all" };
      invalidations.push(body.tags === "all" ? ["*"] : body.tags);
      cache.invalidate(body.tags);
      return Response.json({});
    }
    const body = await request.clone().text();
    const recorded: RecordedQuery = {
      path: url.pathname,
      cacheControl: request.headers.get("cache-control"),
      tags: (request.headers.get("accelerate-cache-tags") ?? "").split(",").filter((t) => t !== ""),
      body,
    };
    requests.push(recorded);
    // Transaction steps are never cached (the extension sends them no directive either).
    if (request.method !== "POST" || url.pathname !== "/query") {
      recorded.cacheStatus = "none";
      return executor.fetch(request);
    }
    // A background refresh sends the query again: a request of its own, as the body is read once.
    let first: Request | undefined = request;
    const send = async () => {
      const next = first ?? new Request(request.url, { method: "POST", headers: request.headers, body });
      first = undefined;
      return executor.fetch(next);
    };
    const { response, status } = await cache.serve(body, recorded.cacheControl, recorded.tags, send);
    recorded.cacheStatus = status;
    return response;
  };

  const http: ServerType = await new Promise((resolve) => {
    const server = serve({ fetch, port: listen?.port ?? 0, hostname: "127.0.0.1" }, () => resolve(server));
  });
  const { port } = http.address() as AddressInfo;
  let stopping: Promise<void> | undefined;
  return {
    url: `prisma+postgres://127.0.0.1:${port}/?api_key=${apiKey}`,
    requests,
    invalidations,
    cache,
    reset() {
      requests.length = 0;
      invalidations.length = 0;
    },
    stop: () =>
      (stopping ??= (async () => {
        // The client keeps connections alive; close them, or close() waits for them.
        await new Promise<void>((resolve) => {
          http.close(() => resolve());
          (http as import("node:http").Server).closeAllConnections?.();
        });
        await executor.shutdown();
      })()),
  };
}
