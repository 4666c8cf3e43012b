/**
 * grpc.health.v1.Health: Check, Watch and List, per service and overall ("").
 * Every service here is only as healthy as the database, so one probe drives
 * them all: SERVING while `SELECT 1` answers, NOT_SERVING otherwise and from
 * the start of shutdown.
 */
import { create, fromBinary, isMessage, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { HandlerGate } from "./grpc-gate.js";
import {
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus as Status,
  HealthCheckResponseSchema,
  HealthListRequestSchema,
  HealthListResponseSchema,
} from "../gen/grpc/health/v1/health_pb.js";

export type ServingStatus = "SERVING" | "NOT_SERVING";

export interface HealthMonitor {
  /** Current overall status. */
  readonly status: ServingStatus;
  /** Probes once now and updates every service's status. */
  probe(): Promise<ServingStatus>;
  /** Marks everything NOT_SERVING and stops probing (shutdown). */
  stop(): void;
}

/** Most Watch streams one server keeps open; more get RESOURCE_EXHAUSTED. */
const MAX_WATCHERS = 1000;

function method<I extends DescMessage, O extends DescMessage>(name: string, input: I, output: O, responseStream: boolean) {
  return {
    path: `/grpc.health.v1.Health/${name}`,
    requestStream: false,
    responseStream,
    requestSerialize: (m: MessageShape<I>) => Buffer.from(toBinary(input, m)),
    requestDeserialize: (b: Buffer) => fromBinary(input, b),
    responseSerialize: (m: MessageInitShape<O>) => Buffer.from(toBinary(output, isMessage(m, output) ? m : create(output, m))),
    responseDeserialize: (b: Buffer) => fromBinary(output, b),
  };
}

const HEALTH_DEFINITION = {
  Check: method("Check", HealthCheckRequestSchema, HealthCheckResponseSchema, false),
  Watch: method("Watch", HealthCheckRequestSchema, HealthCheckResponseSchema, true),
  List: method("List", HealthListRequestSchema, HealthListResponseSchema, false),
} as unknown as grpc.ServiceDefinition;

export function addHealth(
  server: grpc.Server,
  serviceNames: string[],
  ping: () => Promise<unknown>,
  options: {
    intervalMs: number;
    logger: Logger;
    /** Admission of health calls (open unless the policy denies them). Default: none. */
    gate?: HandlerGate;
    /** Logged (warn) with the first health report answered, e.g. that authentication is off. Default: none. */
    firstReportWarning?: string;
  },
): HealthMonitor {
  const names = ["", ...serviceNames];
  let status: ServingStatus = "NOT_SERVING";
  let stopped = false;
  const watchers = new Set<grpc.ServerWritableStream<{ service: string }, unknown>>();
  const wire = () => (status === "SERVING" ? Status.SERVING : Status.NOT_SERVING);

  const set = (next: ServingStatus) => {
    if (next === status) return;
    options.logger.info({ from: status, to: next }, "health status changed");
    status = next;
    for (const call of watchers) call.write({ status: wire() });
  };

  const gate: HandlerGate = options.gate ?? ((_path, handler) => handler);
  let warned = options.firstReportWarning === undefined;
  const warnOnce = () => {
    if (warned) return;
    warned = true;
    options.logger.warn(options.firstReportWarning);
  };
  server.addService(HEALTH_DEFINITION, {
    Check: gate("/grpc.health.v1.Health/Check", (call: grpc.ServerUnaryCall<{ service: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      warnOnce();
      if (!names.includes(call.request.service)) {
        callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` });
        return;
      }
      callback(null, { status: wire() });
    }),
    Watch: gate("/grpc.health.v1.Health/Watch", (call: grpc.ServerWritableStream<{ service: string }, unknown>) => {
      warnOnce();
      if (!names.includes(call.request.service)) {
        // The health protocol: an unknown service is reported, not refused, on Watch.
        call.write({ status: Status.SERVICE_UNKNOWN });
        return;
      }
      if (watchers.size >= MAX_WATCHERS) {
        call.emit("error", { code: grpc.status.RESOURCE_EXHAUSTED, details: "too many health watchers" });
        return;
      }
      watchers.add(call);
      call.write({ status: wire() });
      call.on("cancelled", () => watchers.delete(call));
    }),
    List: gate("/grpc.health.v1.Health/List", (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      warnOnce();
      callback(null, { statuses: Object.fromEntries(names.map((n) => [n, { status: wire() }])) });
    }),
  });

  const probe = async (): Promise<ServingStatus> => {
    let next: ServingStatus;
    try {
      await ping();
      next = "SERVING";
    } catch (err) {
      if (status === "SERVING") options.logger.warn({ err }, "database health probe failed");
      next = "NOT_SERVING";
    }
    if (!stopped) set(next);
    return status;
  };
  const timer = setInterval(() => void probe(), options.intervalMs);
  timer.unref();
  return {
    get status() {
      return status;
    },
    probe,
    stop() {
      stopped = true;
      clearInterval(timer);
      set("NOT_SERVING");
      // Watch streams end so that draining can finish.
      for (const call of watchers) call.end();
      watchers.clear();
    },
  };
}
