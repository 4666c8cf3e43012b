/**
 * The container's HEALTHCHECK: asks the service's own gRPC port for
 * grpc.health.v1.Health/Check (service "") and exits 0 when SERVING, 1
 * otherwise. Speaks TLS when the service does (TLS_CERT_FILE); with mTLS
 * (TLS_CLIENT_CA_FILE) it presents HEALTHCHECK_CERT_FILE / HEALTHCHECK_KEY_FILE,
 * a client certificate of the service's CA (health stays open in the policy).
 *
 *   node dist/scripts/healthcheck.js      PORT=50051, HEALTHCHECK_TIMEOUT_MS=3000
 */
import { readFileSync } from "node:fs";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { HealthCheckRequestSchema, HealthCheckResponse_ServingStatus, HealthCheckResponseSchema } from "../src/gen/grpc/health/v1/health_pb.js";

const port = process.env.PORT || "50051";
const timeoutMs = Number(process.env.HEALTHCHECK_TIMEOUT_MS || 3000);
const read = (file: string | undefined) => (file ? readFileSync(file) : null);

function credentials(): grpc.ChannelCredentials {
  if (!process.env.TLS_CERT_FILE) return grpc.credentials.createInsecure();
  // The service's own certificate names the host it serves; trust the CA that signed it, or the certificate itself.
  const ca = read(process.env.HEALTHCHECK_CA_FILE || process.env.TLS_CLIENT_CA_FILE || process.env.TLS_CERT_FILE);
  return grpc.credentials.createSsl(ca, read(process.env.HEALTHCHECK_KEY_FILE), read(process.env.HEALTHCHECK_CERT_FILE));
}

const client = new grpc.Client(`127.0.0.1:${port}`, credentials(), { "grpc.ssl_target_name_override": process.env.HEALTHCHECK_SERVER_NAME || "localhost" });
client.makeUnaryRequest(
  "/grpc.health.v1.Health/Check",
  (message: ReturnType<typeof create<typeof HealthCheckRequestSchema>>) => Buffer.from(toBinary(HealthCheckRequestSchema, message)),
  (bytes: Buffer) => fromBinary(HealthCheckResponseSchema, bytes),
  create(HealthCheckRequestSchema, { service: "" }),
  new grpc.Metadata(),
  { deadline: Date.now() + timeoutMs },
  (error, response) => {
    client.close();
    if (error) {
      console.error(`unhealthy: ${error.message}`);
      process.exit(1);
    }
    const serving = response?.status === HealthCheckResponse_ServingStatus.SERVING;
    console.log(serving ? "SERVING" : `unhealthy: ${HealthCheckResponse_ServingStatus[response?.status ?? 0]}`);
    process.exit(serving ? 0 : 1);
  },
);
