/**
 * A client the way a foreign service builds one: @grpc/grpc-js plus the
 * .proto files, nothing from this codebase. Error details are decoded with
 * protobufjs from google/rpc/*.proto, as any gRPC client library would.
 */
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import protobuf from "protobufjs";

export const PROTO_ROOT = path.resolve(import.meta.dirname, "../../proto");

const loaderOptions = { includeDirs: [PROTO_ROOT], keepCase: false, longs: String, enums: String, defaults: true, oneofs: true };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyClient = grpc.Client & Record<string, any>;

/** `credentials`: default cleartext; `grpc.credentials.createSsl(ca, key, cert)` for TLS and mTLS. */
export function loadClient(
  protoFile: string,
  serviceName: string,
  address: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  options: grpc.ChannelOptions = {},
): AnyClient {
  const definition = grpc.loadPackageDefinition(loadSync(protoFile, loaderOptions));
  const ctor = serviceName.split(".").reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], definition) as
    | grpc.ServiceClientConstructor
    | undefined;
  if (!ctor) throw new Error(`service ${serviceName} not found in ${protoFile}`);
  return new ctor(address, credentials, options) as AnyClient;
}

/** Calls a unary method and resolves with the response, or rejects with the ServiceError. */
export function unary<T = any>(client: AnyClient, method: string, request: object, options: { metadata?: grpc.Metadata; deadlineMs?: number } = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const callOptions: grpc.CallOptions = options.deadlineMs ? { deadline: Date.now() + options.deadlineMs } : {};
    client[method](request, options.metadata ?? new grpc.Metadata(), callOptions, (err: grpc.ServiceError | null, res: T) =>
      err ? reject(err) : resolve(res),
    );
  });
}

/** Awaits a call expected to fail and returns its error. */
export async function failure(call: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await call;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error("expected the call to fail, it succeeded");
}

const rpcRoot = protobuf.loadSync([path.join(PROTO_ROOT, "google/rpc/status.proto"), path.join(PROTO_ROOT, "google/rpc/error_details.proto")]);
const StatusType = rpcRoot.lookupType("google.rpc.Status");

export interface DecodedDetails {
  errorInfo?: { reason: string; domain: string; metadata: Record<string, string> };
  /** `reason` is the id of the contract rule broken (e.g. `string.max_len`); empty for checks that are not contract rules. */
  badRequest?: { fieldViolations: { field: string; description: string; reason: string }[] };
}

/** Decodes `grpc-status-details-bin` into the ErrorInfo / BadRequest it carries. */
export function errorDetails(error: grpc.ServiceError): DecodedDetails {
  const raw = error.metadata?.get("grpc-status-details-bin")[0];
  if (!raw) return {};
  const status = StatusType.toObject(StatusType.decode(raw as Buffer), { defaults: true }) as { details: { type_url: string; value: Uint8Array }[] };
  const out: DecodedDetails = {};
  for (const any of status.details) Object.assign(out, decodeStatusDetail(any.type_url, any.value));
  return out;
}

/** Decodes one detail (a type URL or name, and its protobuf bytes) into the ErrorInfo / BadRequest it is. */
export function decodeStatusDetail(typeUrl: string, bytes: Uint8Array): DecodedDetails {
  const typeName = typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
  if (typeName !== "google.rpc.ErrorInfo" && typeName !== "google.rpc.BadRequest") return {};
  const type = rpcRoot.lookupType(typeName);
  const value = type.toObject(type.decode(bytes), { defaults: true });
  return typeName === "google.rpc.ErrorInfo" ? { errorInfo: value as DecodedDetails["errorInfo"] } : { badRequest: value as DecodedDetails["badRequest"] };
}
