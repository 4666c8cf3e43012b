/**
 * Reads PostgreSQL's verdict out of the shapes Prisma 7 + adapter-pg wrap it
 * in. A failure reaches us as one of:
 * - PrismaClientKnownRequestError P2034 (a model query's write conflict);
 * - PrismaClientKnownRequestError P2010 (raw SQL), with
 *   `meta.driverAdapterError.cause` = { originalCode, originalMessage, kind, … };
 * - a bare DriverAdapterError (`cause.kind`, e.g. "TransactionWriteConflict"
 *   from COMMIT), or a P20xx model error whose `meta` names a constraint;
 * - node-postgres' own plain `Error` when the connection died under a
 *   statement (adapter-pg converts only errors that carry a SQLSTATE or a
 *   socket code, and passes the others on as they are);
 * - behind Accelerate (the query-plan executor), P6000 with `meta.error`
 *   holding the message of whatever the executor could not name (HTTP 500).
 */
import type { RetryCause } from "../domain/observer.js";
import { FETCH_FAILURE_MESSAGE } from "@prisma/extension-accelerate";
import { DomainError, ErrorReason } from "../domain/errors.js";

export interface DbErrorFacts {
  /** SQLSTATE, e.g. "40001", "23505". */
  sqlState?: string;
  /** adapter-pg's classification, e.g. "UniqueConstraintViolation". */
  kind?: string;
  /** Constraint or index name, when PostgreSQL named it. */
  constraint?: string;
  /** Prisma's error code, e.g. "P2002". */
  prismaCode?: string;
  message: string;
}

interface AdapterCause {
  originalCode?: string;
  originalMessage?: string;
  kind?: string;
  constraint?: { index?: string; fields?: string[] };
  message?: string;
}

function adapterCauseOf(error: Record<string, unknown>): AdapterCause | undefined {
  const meta = error.meta as Record<string, unknown> | undefined;
  const fromMeta = (meta?.driverAdapterError as { cause?: AdapterCause } | undefined)?.cause;
  if (fromMeta) return fromMeta;
  if (error.name === "DriverAdapterError") return error.cause as AdapterCause | undefined;
  return undefined;
}

export function dbErrorFacts(error: unknown): DbErrorFacts | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const e = error as Record<string, unknown>;
  const cause = adapterCauseOf(e);
  const prismaCode = typeof e.code === "string" && /^P\d{4}$/.test(e.code) ? e.code : undefined;
  if (!cause && !prismaCode) return undefined;
  const message = cause?.originalMessage ?? cause?.message ?? String(e.message ?? "");
  const named = /constraint "([^"]+)"/.exec(message)?.[1];
  const metaTarget = (e.meta as { target?: unknown } | undefined)?.target;
  return {
    sqlState: cause?.originalCode ?? (typeof (e.meta as { code?: unknown })?.code === "string" ? ((e.meta as { code: string }).code) : undefined),
    kind: cause?.kind,
    constraint: cause?.constraint?.index ?? named ?? (typeof metaTarget === "string" ? metaTarget : undefined),
    prismaCode,
    message,
  };
}

/** Serialization failure or deadlock: the whole transaction may be retried. */
export function isRetryableConflict(error: unknown): boolean {
  const facts = dbErrorFacts(error);
  if (!facts) return false;
  return (
    facts.prismaCode === "P2034" ||
    facts.kind === "TransactionWriteConflict" ||
    facts.sqlState === "40001" ||
    facts.sqlState === "40P01"
  );
}

/** Which kind of conflict a retryable one is (isRetryableConflict), for the retry metrics. */
export function retryCauseOf(error: unknown): RetryCause {
  const facts = dbErrorFacts(error);
  if (facts?.sqlState === "40001") return "serialization_failure";
  if (facts?.sqlState === "40P01") return "deadlock";
  return "write_conflict";
}

const NETWORK_CODES = ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "UND_ERR_SOCKET"];

/**
 * node-postgres' messages for a connection that died under the client. They
 * come as plain `Error`s with no code, so the exact message is all there is;
 * each is raised in one place of pg's `Client` (lib/client.js), for that
 * one reason only.
 */
const DEAD_CONNECTION_MESSAGES: ReadonlySet<string> = new Set([
  // The socket closed while a statement was in flight, PostgreSQL saying nothing (network cut, proxy, crash).
  "Connection terminated unexpectedly",
  // A statement sent on a connection already known dead, e.g. the next statement of a transaction
  // whose backend was terminated (pg_terminate_backend, failover) between two of its statements.
  "Client has encountered a connection error and is not queryable",
]);

/**
 * What the query-plan executor (Accelerate's stand-in) answers when its own
 * connection died: an HTTP 500 carrying only the message, which Prisma
 * Client raises as P6000 with it in `meta.error`. Besides node-postgres'
 * messages, a COMMIT on a terminated connection comes as PostgreSQL's text
 * for SQLSTATE 57P01, the code lost on the way.
 */
const EXECUTOR_DEAD_CONNECTION_MESSAGES: ReadonlySet<string> = new Set([
  ...DEAD_CONNECTION_MESSAGES,
  "terminating connection due to administrator command",
]);

/** node-postgres' own error for a dead connection: a plain Error (no subclass, no code) with one of its messages. */
function isDeadConnection(error: unknown): boolean {
  return (
    error instanceof Error &&
    Object.getPrototypeOf(error) === Error.prototype &&
    !("code" in error) &&
    DEAD_CONNECTION_MESSAGES.has(error.message)
  );
}

/** The executor's P6000 whose whole message says its connection to PostgreSQL died. */
function isExecutorConnectionLoss(error: unknown, facts: DbErrorFacts): boolean {
  if (facts.prismaCode !== "P6000") return false;
  const serverError = (error as { meta?: { error?: unknown } }).meta?.error;
  return typeof serverError === "string" && EXECUTOR_DEAD_CONNECTION_MESSAGES.has(serverError);
}

/**
 * The database is not there (down, unreachable, refused, restarting), or
 * the connection a statement ran on died (terminated, cut), directly or
 * behind Accelerate; or a lock could not be had within `lock_timeout`
 * (55P03, lock_not_available): the row is busy, nothing was written, and the
 * same call may succeed a moment later, so the caller sees UNAVAILABLE
 * (retryable), not INTERNAL.
 */
export function isUnavailable(error: unknown): boolean {
  const facts = dbErrorFacts(error);
  if (facts) {
    return (
      ["DatabaseNotReachable", "ConnectionClosed", "SocketTimeout", "TooManyConnections", "DatabaseDoesNotExist"].includes(facts.kind ?? "") ||
      /^(57P0[1-3]|08\d{3}|55P03)$/.test(facts.sqlState ?? "") ||
      facts.prismaCode === "P1001" ||
      facts.prismaCode === "P1017" ||
      facts.prismaCode === "P2024" ||
      // Accelerate: cannot reach or start a connection to the database.
      facts.prismaCode === "P6008" ||
      isExecutorConnectionLoss(error, facts)
    );
  }
  if (isDeadConnection(error)) return true;
  const e = error as { code?: unknown; name?: unknown; message?: unknown; cause?: { code?: unknown } } | null;
  if (typeof e?.code === "string" && NETWORK_CODES.includes(e.code)) return true;
  // Accelerate itself unreachable. Model queries: the extension's own error.
  if (error instanceof Error && error.message === FETCH_FAILURE_MESSAGE) return true;
  // Raw queries and transactions: fetch's TypeError("fetch failed…"), the socket error as its cause.
  return (
    e?.name === "TypeError" &&
    typeof e.message === "string" &&
    e.message.startsWith("fetch failed") &&
    typeof e.cause?.code === "string" &&
    NETWORK_CODES.includes(e.cause.code)
  );
}

/**
 * The database took too long: a statement timeout (57014), an interactive
 * transaction past its timeout (P2028), or Accelerate's query limit (P6004,
 * or P6000 naming a timeout). Nothing was committed by the statement that
 * timed out; the caller may retry.
 */
export function isTimeout(error: unknown): boolean {
  const facts = dbErrorFacts(error);
  if (!facts) return false;
  if (facts.sqlState === "57014" || facts.prismaCode === "P2028" || facts.prismaCode === "P1008" || facts.prismaCode === "P6004") return true;
  const serverError = (error as { meta?: { error?: unknown } }).meta?.error;
  return facts.prismaCode === "P6000" && typeof serverError === "string" && /timeout/i.test(serverError);
}

/**
 * Infrastructure failures a client should see by name, as retryable, rather
 * than as INTERNAL: the database unavailable, or too slow. Anything else
 * stays unknown (undefined).
 */
export function infrastructureErrorOf(error: unknown): DomainError | undefined {
  if (isUnavailable(error)) return new DomainError(ErrorReason.UNAVAILABLE, "the database is unavailable; retry later");
  if (isTimeout(error)) {
    return new DomainError(
      ErrorReason.DATABASE_TIMEOUT,
      "the database did not finish in time; retry (a retry with the same idempotency key never applies a change twice)",
    );
  }
  return undefined;
}
