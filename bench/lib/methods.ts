/**
 * The unary methods the bench can call, from the generated protobuf-es
 * descriptors (src/gen): what ghz learns from the .proto files. Requests are
 * JSON mapped with fromJson, as ghz maps them with protojson.
 */
import { fromJson, toBinary, type DescMessage, type DescMethod, type DescService, type JsonValue } from "@bufbuild/protobuf";
import { AuditService } from "../../src/gen/aevon/audit/v1/audit_pb.js";
import { IdentityService } from "../../src/gen/aevon/identity/v1/identity_pb.js";
import { LedgerService } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { Health } from "../../src/gen/grpc/health/v1/health_pb.js";

export interface UnaryMethod {
  /** `package.Service/Method` */
  fullName: string;
  /** HTTP/2 path, `/package.Service/Method`. */
  path: string;
  input: DescMessage;
  output: DescMessage;
}

const SERVICES: DescService[] = [LedgerService, IdentityService, AuditService, Health];

function unaryMethods(): Map<string, UnaryMethod> {
  const out = new Map<string, UnaryMethod>();
  for (const service of SERVICES) {
    for (const m of service.methods as DescMethod[]) {
      if (m.methodKind !== "unary") continue;
      const fullName = `${service.typeName}/${m.name}`;
      out.set(fullName, { fullName, path: `/${fullName}`, input: m.input, output: m.output });
    }
  }
  return out;
}

const METHODS = unaryMethods();

/** Resolves `package.Service/Method` or `package.Service.Method` (both ghz forms). */
export function findMethod(name: string): UnaryMethod {
  const slash = name.includes("/") ? name.replace(/^\//, "") : name.replace(/\.([^.]+)$/, "/$1");
  const found = METHODS.get(slash);
  if (!found) {
    throw new Error(`--call: unknown unary method "${name}" (known: ${[...METHODS.keys()].sort().join(", ")})`);
  }
  return found;
}

/**
 * JSON text → protobuf bytes of `method`'s request; errors name `source` and
 * the field. A JSON array is used round-robin, as ghz does for unary calls:
 * element `requestNumber % length`.
 */
export function encodeJson(method: UnaryMethod, json: string, source: string, requestNumber = 0): Buffer {
  let value: JsonValue;
  try {
    value = JSON.parse(json) as JsonValue;
  } catch (error) {
    throw new Error(`${source}: not valid JSON after templating (${(error as Error).message}): ${json.slice(0, 200)}`);
  }
  if (Array.isArray(value)) {
    if (value.length === 0) throw new Error(`${source}: an empty array`);
    value = value[requestNumber % value.length]!;
  }
  try {
    return Buffer.from(toBinary(method.input, fromJson(method.input, value)));
  } catch (error) {
    throw new Error(`${source}: does not fit ${method.input.typeName}: ${(error as Error).message}`);
  }
}
