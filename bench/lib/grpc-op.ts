/**
 * Turns scenario calls (method + data template, weighted) into the load
 * generator's operation: render the template, map the JSON onto the request
 * message, send the bytes, classify the reply by gRPC status.
 */
import type { Connections } from "./client.js";
import type { Op } from "./load.js";
import { encodeJson, findMethod, type UnaryMethod } from "./methods.js";
import { compileTemplate, type CallContext, type Fixture } from "./template.js";

export interface WeightedCall {
  /** `package.Service/Method` */
  call: string;
  /** JSON data template. */
  data: string;
  weight: number;
}

interface Prepared {
  method: UnaryMethod;
  label: string;
  weight: number;
  /** Request bytes for a call number (constant data is encoded once). */
  request(ctx: CallContext): Buffer;
  context(requestNumber: number, workerId: string): CallContext;
}

function prepare(spec: WeightedCall, fixture: Fixture | undefined, source: string): Prepared {
  const method = findMethod(spec.call);
  const template = compileTemplate(spec.data, source, { fixture });
  const context = (requestNumber: number, workerId: string): CallContext => ({
    requestNumber,
    workerId,
    fullName: method.fullName,
    inputName: method.input.name,
    outputName: method.output.name,
  });
  let request: (ctx: CallContext) => Buffer;
  if (template.isStatic) {
    const text = template.render(context(0, "w0"));
    const parsed: unknown = JSON.parse(text);
    const n = Array.isArray(parsed) ? parsed.length : 1;
    const encoded = Array.from({ length: n }, (_, i) => encodeJson(method, text, source, i));
    request = (ctx) => encoded[ctx.requestNumber % n]!;
  } else {
    request = (ctx) => encodeJson(method, template.render(ctx), source, ctx.requestNumber);
  }
  request(context(0, "w0")); // a bad template fails here, before any load
  return { method, label: method.fullName.slice(method.fullName.lastIndexOf(".") + 1), weight: spec.weight, request, context };
}

/**
 * The operation for `calls` (one, or a weighted mix). Throws now if a
 * template does not render or does not fit its request message.
 */
export function grpcOp(connections: Connections, calls: WeightedCall[], fixture: Fixture | undefined, timeoutMs: number, source = "-d"): Op {
  if (calls.length === 0) throw new Error("no calls to make");
  const prepared = calls.map((c, i) => prepare(c, fixture, calls.length > 1 ? `${source}[${i}]` : source));
  const totalWeight = prepared.reduce((a, p) => a + p.weight, 0);
  if (!(totalWeight > 0)) throw new Error("call weights must add up to more than 0");
  const pick = (): Prepared => {
    if (prepared.length === 1) return prepared[0]!;
    let r = Math.random() * totalWeight;
    for (const p of prepared) if ((r -= p.weight) < 0) return p;
    return prepared[prepared.length - 1]!;
  };
  return ({ requestNumber, workerId }, done) => {
    const p = pick();
    const ctx = p.context(requestNumber, workerId);
    connections.callBytes(p.method.path, p.request(ctx), connections.metadataFor(ctx), timeoutMs, (err) =>
      err ? done(err.code, err.message, p.label) : done("OK", undefined, p.label),
    );
  };
}
