/**
 * gRPC server reflection, v1 and v1alpha, so that grpcurl, ghz, grpcui,
 * Postman and `buf curl` can list, describe and call the services with no
 * .proto on hand.
 *
 * Descriptors come from the protobuf-es code generated from proto/, under
 * their real file names (`aevon/ledger/v1/ledger.proto`, ...). @grpc/reflection
 * was tried first: it renames files per package (`grpc_health_v1.proto`), and
 * Go clients such as `buf curl` then fail to resolve grpc.health.v1.Health,
 * whose canonical file they already know.
 */
import { create, fromBinary, toBinary, type DescFile, type DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import type { HandlerGate } from "./grpc-gate.js";
import { file_aevon_audit_v1_audit } from "../gen/aevon/audit/v1/audit_pb.js";
import { file_aevon_identity_v1_identity } from "../gen/aevon/identity/v1/identity_pb.js";
import { file_aevon_ledger_v1_ledger } from "../gen/aevon/ledger/v1/ledger_pb.js";
import { file_aevon_type_v1_error_reason } from "../gen/aevon/type/v1/error_reason_pb.js";
import { file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../gen/google/rpc/status_pb.js";
import { file_grpc_health_v1_health } from "../gen/grpc/health/v1/health_pb.js";
import * as v1 from "../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.js";

/**
 * The contracts this server answers for, the error-detail types its errors
 * carry, and the ErrorReason enum that names every ErrorInfo.reason (no
 * service imports it, so without this a reflecting client could not find it).
 */
const SERVED_FILES: DescFile[] = [
  file_google_rpc_status,
  file_google_rpc_error_details,
  file_aevon_type_v1_error_reason,
  file_aevon_identity_v1_identity,
  file_aevon_ledger_v1_ledger,
  file_aevon_audit_v1_audit,
  file_grpc_health_v1_health,
  v1.file_grpc_reflection_v1_reflection,
  v1alpha.file_grpc_reflection_v1alpha_reflection,
];

/** What one reflection request resolves to: files to send, or a gRPC error. */
type Answer =
  | { files: Uint8Array[] }
  | { services: string[] }
  | { extensionNumbers: { base: string; numbers: number[] } }
  | { error: { code: number; message: string } };

/** Indexes served files, their dependencies and every symbol they define; built once. */
class DescriptorIndex {
  private readonly byName = new Map<string, DescFile>();
  private readonly bySymbol = new Map<string, DescFile>();
  private readonly encoded = new Map<DescFile, Uint8Array>();
  private readonly extensionsOf = new Map<string, { number: number; file: DescFile }[]>();
  readonly services: string[] = [];

  constructor(files: DescFile[]) {
    for (const file of files) {
      for (const service of file.services) this.services.push(service.typeName);
      this.add(file);
    }
    this.services.sort();
  }

  private add(file: DescFile): void {
    if (this.byName.has(file.name + ".proto")) return;
    this.byName.set(file.name + ".proto", file);
    this.encoded.set(file, toBinary(FileDescriptorProtoSchema, file.proto));
    for (const dep of file.dependencies) this.add(dep);
    const addMessage = (m: DescMessage) => {
      this.bySymbol.set(m.typeName, file);
      for (const f of m.fields) this.bySymbol.set(`${m.typeName}.${f.name}`, file);
      for (const o of m.oneofs) this.bySymbol.set(`${m.typeName}.${o.name}`, file);
      for (const nested of m.nestedMessages) addMessage(nested);
      for (const e of m.nestedEnums) this.bySymbol.set(e.typeName, file);
      for (const x of m.nestedExtensions) this.addExtension(x.typeName, x.extendee.typeName, x.number, file);
    };
    for (const m of file.messages) addMessage(m);
    for (const e of file.enums) this.bySymbol.set(e.typeName, file);
    for (const x of file.extensions) this.addExtension(x.typeName, x.extendee.typeName, x.number, file);
    for (const s of file.services) {
      this.bySymbol.set(s.typeName, file);
      for (const method of s.methods) this.bySymbol.set(`${s.typeName}.${method.name}`, file);
    }
  }

  private addExtension(name: string, extendee: string, number: number, file: DescFile): void {
    this.bySymbol.set(name, file);
    const list = this.extensionsOf.get(extendee) ?? [];
    list.push({ number, file });
    this.extensionsOf.set(extendee, list);
  }

  /** The file and all of its transitive dependencies, the file first. */
  private closure(file: DescFile): Uint8Array[] {
    const seen = new Set<DescFile>();
    const out: Uint8Array[] = [];
    const visit = (f: DescFile) => {
      if (seen.has(f)) return;
      seen.add(f);
      out.push(this.encoded.get(f)!);
      for (const dep of f.dependencies) visit(dep);
    };
    visit(file);
    return out;
  }

  answer(request: v1.ServerReflectionRequest["messageRequest"]): Answer {
    const notFound = (what: string): Answer => ({ error: { code: grpc.status.NOT_FOUND, message: `${what} not found` } });
    switch (request.case) {
      case "listServices":
        return { services: this.services };
      case "fileByFilename": {
        const file = this.byName.get(request.value);
        return file ? { files: this.closure(file) } : notFound(`file ${request.value}`);
      }
      case "fileContainingSymbol": {
        const file = this.bySymbol.get(request.value.replace(/^\./, ""));
        return file ? { files: this.closure(file) } : notFound(`symbol ${request.value}`);
      }
      case "fileContainingExtension": {
        const ext = this.extensionsOf.get(request.value.containingType)?.find((x) => x.number === request.value.extensionNumber);
        return ext ? { files: this.closure(ext.file) } : notFound(`extension ${request.value.extensionNumber} of ${request.value.containingType}`);
      }
      case "allExtensionNumbersOfType": {
        if (!this.bySymbol.has(request.value)) return notFound(`type ${request.value}`);
        const numbers = (this.extensionsOf.get(request.value) ?? []).map((x) => x.number);
        return { extensionNumbers: { base: request.value, numbers } };
      }
      default:
        return { error: { code: grpc.status.INVALID_ARGUMENT, message: "empty reflection request" } };
    }
  }
}

function responseOf(answer: Answer): v1.ServerReflectionResponse["messageResponse"] {
  if ("files" in answer) return { case: "fileDescriptorResponse", value: create(v1.FileDescriptorResponseSchema, { fileDescriptorProto: answer.files }) };
  if ("services" in answer) {
    return { case: "listServicesResponse", value: create(v1.ListServiceResponseSchema, { service: answer.services.map((name) => ({ name })) }) };
  }
  if ("extensionNumbers" in answer) {
    return {
      case: "allExtensionNumbersResponse",
      value: create(v1.ExtensionNumberResponseSchema, { baseTypeName: answer.extensionNumbers.base, extensionNumber: answer.extensionNumbers.numbers }),
    };
  }
  return { case: "errorResponse", value: create(v1.ErrorResponseSchema, { errorCode: answer.error.code, errorMessage: answer.error.message }) };
}

/**
 * v1 and v1alpha are the same messages with the same field numbers under two
 * package names, so both are served by one handler speaking v1's schemas.
 */
function reflectionDefinition(packageName: string): grpc.ServiceDefinition {
  const bytes = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return {
    ServerReflectionInfo: {
      path: `/${packageName}.ServerReflection/ServerReflectionInfo`,
      requestStream: true,
      responseStream: true,
      requestSerialize: (m: v1.ServerReflectionRequest) => bytes(toBinary(v1.ServerReflectionRequestSchema, m)),
      requestDeserialize: (b: Buffer) => fromBinary(v1.ServerReflectionRequestSchema, b),
      responseSerialize: (m: v1.ServerReflectionResponse) => bytes(toBinary(v1.ServerReflectionResponseSchema, m)),
      responseDeserialize: (b: Buffer) => fromBinary(v1.ServerReflectionResponseSchema, b),
    },
  } as grpc.ServiceDefinition;
}

/** Adds grpc.reflection.v1 and v1alpha ServerReflection to the server. */
/** Serves reflection v1 and v1alpha; `gate` admits each stream (open unless the policy denies it). */
export function addReflection(server: grpc.Server, gate: HandlerGate = (_path, handler) => handler): void {
  const index = new DescriptorIndex(SERVED_FILES);
  const handler = (call: grpc.ServerDuplexStream<v1.ServerReflectionRequest, v1.ServerReflectionResponse>) => {
    call.on("data", (request: v1.ServerReflectionRequest) => {
      call.write(
        create(v1.ServerReflectionResponseSchema, {
          validHost: request.host,
          originalRequest: request,
          messageResponse: responseOf(index.answer(request.messageRequest)),
        }),
      );
    });
    call.on("end", () => call.end());
    call.on("error", () => undefined); // client went away mid-stream
  };
  for (const packageName of ["grpc.reflection.v1", "grpc.reflection.v1alpha"]) {
    server.addService(reflectionDefinition(packageName), {
      ServerReflectionInfo: gate(`/${packageName}.ServerReflection/ServerReflectionInfo`, handler),
    });
  }
}
