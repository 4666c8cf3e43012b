/**
 * Reads PostgreSQL's verdict out of the shapes Prisma 7 + adapter-pg wrap it
 * in. A failure reaches us as one of:
 * - PrismaClientKnownRequestError P2034 (a model query's write conflict);
 * - PrismaClientKnownRequestError P2010 (raw SQL), with
 *   `meta.driverAdapterError.cause` = { originalCode, originalMessage, kind, … };
 * - a bare DriverAdapterError (`cause.kind`, e.g. "TransactionWriteConflict"
 *   from COMMIT), or a P20xx model error whose `meta` names a constraint.
 */
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

const NETWORK_CODES = ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "UND_ERR_SOCKET"];

/** The database is not there (down, unreachable, refused, restarting), directly or behind Accelerate. */
export function isUnavailable(error: unknown): boolean {
  const facts = dbErrorFacts(error);
  if (facts) {
    return (
      ["DatabaseNotReachable", "ConnectionClosed", "SocketTimeout", "TooManyConnections", "DatabaseDoesNotExist"].includes(facts.kind ?? "") ||
      /^(57P0[1-3]|08\d{3})$/.test(facts.sqlState ?? "") ||
      facts.prismaCode === "P1001" ||
      facts.prismaCode === "P1017" ||
      facts.prismaCode === "P2024" ||
      // Accelerate: cannot reach or start a connection to the database.
      facts.prismaCode === "P6008"
    );
  }
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
