/**
 * One JSON log line per RPC, the same shape for every transport, so that a
 * single query over the logs covers gRPC, Connect and gRPC-Web calls alike.
 */
import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import type { Logger } from "pino";
import { isValidRequestId, REQUEST_ID_HEADER } from "../rpc/call-context.js";
import type { CallSpan } from "../lib/trace-hooks.js";
import type { CallMetrics } from "./metrics/instruments.js";

export { REQUEST_ID_HEADER };

/**
 * The request id a call is logged and answered under: the caller's, or a
 * fresh UUID when it sent none (or one the handler will refuse as malformed).
 */
export function requestIdFrom(value: string | null | undefined): string {
  return value && isValidRequestId(value) ? value : randomUUID();
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

/**
 * The end of every call, on either port: its log line, its count and
 * duration in the metrics (when kept), and the end of its span (when traced). `protocol` "grpc" is the grpc-js
 * port; anything else the connect-node port.
 */
export function logCall(logger: Logger, record: CallRecord, metrics?: CallMetrics, span?: CallSpan): void {
  const durationMs = Number(process.hrtime.bigint() - record.startedAtNs) / 1e6;
  span?.end(record.code, record.message);
  metrics?.callFinished(record.protocol === "grpc" ? "grpc" : "connect_rpc", record.method, record.code, durationMs / 1000);
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
