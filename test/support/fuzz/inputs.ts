/**
 * One fuzz input: an RPC of the three services (enumerated from the
 * generated descriptors), a transport, a request full of fillers with one
 * poison, the bytes or JSON text to send, and the answer it must get.
 */
import { create, toBinary, toJson, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { AuditService } from "../../../src/gen/aevon/audit/v1/audit_pb.js";
import { IdentityService } from "../../../src/gen/aevon/identity/v1/identity_pb.js";
import { LedgerService } from "../../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { fill, sitesOf, type Known, type Rng } from "./messages.js";
import { POISONS, type Dose, type Expectation, type PoisonContext, type Transport } from "./poisons.js";

export const SERVICES: DescService[] = [LedgerService, IdentityService, AuditService];

/** Every RPC of the three services. */
export const METHODS: DescMethod[] = SERVICES.flatMap((s) => s.methods);

export interface FuzzInput {
  index: number;
  /** `/package.Service/Method`. */
  path: string;
  transport: Transport;
  poison: string;
  detail: string;
  /** Binary protobuf (gRPC) or JSON text (Connect). */
  body: Uint8Array | string;
  headers: Record<string, string>;
  expect: Expectation;
}

/** The input as a line a human can replay from. */
export function describeInput(input: FuzzInput): string {
  const body =
    typeof input.body === "string"
      ? `json ${input.body.length > 600 ? `${input.body.slice(0, 600)}…(${input.body.length} chars)` : input.body}`
      : `bytes ${Buffer.from(input.body.subarray(0, 300)).toString("hex")}${input.body.length > 300 ? `…(${input.body.length} bytes)` : ""}`;
  return `#${input.index} ${input.transport} ${input.path} [${input.poison}] ${input.detail}; headers ${JSON.stringify(input.headers)}; expect ${JSON.stringify(input.expect)}; ${body}`;
}

/** The next input from `rng` (deterministic for a seed, given the same `known` ids). */
export function generate(rng: Rng, index: number, known: Known, maxBytes: number): FuzzInput {
  for (let attempt = 1; ; attempt++) {
    const method = rng.pick(METHODS);
    const transport: Transport = rng.chance(0.7) ? "grpc" : "connect";
    const desc = method.input;
    const init = fill(rng, desc, known);
    const ctx: PoisonContext = {
      rng,
      desc,
      sites: sitesOf(desc),
      init,
      transport,
      known,
      maxBytes,
      encode: () => toBinary(desc, create(desc, init as never)),
      toJson: () => toJson(desc, create(desc, init as never)) as Record<string, unknown>,
    };
    const candidates = POISONS.filter((p) => p.transports.includes(transport) && p.applies(ctx));
    let roll = rng.next() * candidates.reduce((sum, p) => sum + p.weight, 0);
    const poison = candidates.find((p) => (roll -= p.weight) < 0) ?? candidates[candidates.length - 1]!;
    let dose: Dose;
    let body: Uint8Array | string;
    try {
      dose = poison.make(ctx);
      body = dose.bytes ?? dose.text ?? (transport === "grpc" ? ctx.encode() : JSON.stringify(ctx.toJson()));
    } catch (error) {
      // Some fillers have no JSON form (e.g. a FieldMask path protobuf-es cannot camel-case): draw again.
      if (attempt >= 50) throw error;
      continue;
    }
    return {
      index,
      path: `/${method.parent.typeName}/${method.name}`,
      transport,
      poison: poison.name,
      detail: dose.detail,
      body,
      headers: dose.headers ?? {},
      expect: dose.expect,
    };
  }
}
