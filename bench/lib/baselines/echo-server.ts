/**
 * Baseline child process: a bare grpc-js server answering
 * grpc.health.v1.Health/Check with SERVING from a constant, nothing else:
 * the transport floor (what any grpc-js server pays per call). Started with
 * fork(); reports its port over IPC and exits when the parent goes.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { HealthCheckResponse_ServingStatus, HealthCheckResponseSchema } from "../../../src/gen/grpc/health/v1/health_pb.js";

const identity = (b: Buffer): Buffer => b;
const SERVING = Buffer.from(toBinary(HealthCheckResponseSchema, create(HealthCheckResponseSchema, { status: HealthCheckResponse_ServingStatus.SERVING })));

// The service's grpc-js defaults (src/lib/config.ts), so only the handler layer differs.
const server = new grpc.Server({
  "grpc.max_receive_message_length": 1024 * 1024,
  "grpc.max_send_message_length": 4 * 1024 * 1024,
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.max_concurrent_streams": 1000,
});
const check: grpc.MethodDefinition<Buffer, Buffer> = {
  path: "/grpc.health.v1.Health/Check",
  requestStream: false,
  responseStream: false,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
};
server.addService({ check }, { check: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, SERVING) });
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.send!({ echoPort: port });
});
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
