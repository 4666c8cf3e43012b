/**
 * One JSON log line per RPC, the same shape for every transport, so that a
 * single query over the logs covers gRPC, Connect and gRPC-Web calls alike.
 */
import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import type { Logger } from "pino";

/** Header (gRPC metadata key) that carries the caller's request id. */
export const REQUEST_ID_HEADER = "x-request-id";

/** Longest request id accepted from a caller; longer ones are replaced. */
const REQUEST_ID_MAX_LENGTH = 128;

/** The caller's request id when it is sane, otherwise a fresh UUID. */
export function requestIdFrom(value: string | null | undefined): string {
  if (value && value.length <= REQUEST_ID_MAX_LENGTH && /^[\x21-\x7e]+$/.test(value)) return value;
  return randomUUID();
}

export interface CallRecord {
  protocol: string;
  /** `/package.Service/Method`. */
  method: string;
  code: Code | 0;
  startedAtNs: bigint;
  requestId: string;
  peer: string;
  /** Client-facing message of a failed call. */
  message?: string;
}

const CODE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Code)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => [v, k.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase()]),
);

/** Name of a gRPC status code as the gRPC spec spells it (OK, NOT_FOUND, …). */
export function codeName(code: Code | 0): string {
  return code === 0 ? "OK" : (CODE_NAMES[code] ?? String(code));
}

export function logCall(logger: Logger, record: CallRecord): void {
  const durationMs = Number(process.hrtime.bigint() - record.startedAtNs) / 1e6;
  const line = {
    protocol: record.protocol,
    method: record.method,
    code: codeName(record.code),
    duration_ms: Math.round(durationMs * 1000) / 1000,
    request_id: record.requestId,
    peer: record.peer,
    ...(record.message === undefined ? {} : { error: record.message }),
  };
  // Server-side faults are errors; client-caused outcomes are routine.
  if (record.code === Code.Internal || record.code === Code.Unknown || record.code === Code.DataLoss) {
    logger.error(line, "rpc");
  } else {
    logger.info(line, "rpc");
  }
}
