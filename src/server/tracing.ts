/**
 * OpenTelemetry traces, off by default. With OTEL_EXPORTER_OTLP_ENDPOINT
 * set, startTracing loads the SDK (dynamic imports: a process without
 * tracing never loads it) and installs the hooks of src/lib/trace-hooks.ts:
 * one SERVER span per call on either port, continuing the caller's W3C
 * `traceparent`, and a CLIENT span `db.transaction` / `db.statement` per
 * database attempt under it. Spans are batched and sent over OTLP/HTTP
 * (protobuf); the exporter reads the standard OTEL_EXPORTER_OTLP_* variables
 * itself (endpoint, headers, timeout). A collector that is down loses
 * spans, never calls.
 */
import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
import { setTraceHooks } from "../lib/trace-hooks.js";

export interface TracingOptions {
  /** `service.name` of every span (OTEL_SERVICE_NAME). */
  serviceName: string;
  /**
   * Where spans go instead of OTLP, one by one as each ends: for tests
   * (InMemorySpanExporter). Default: OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT,
   * batched.
   */
  exporter?: SpanExporter;
}

export interface Tracing {
  /** Removes the hooks, flushes the spans still buffered, and shuts the SDK down. */
  stop(): Promise<void>;
}

/** gRPC codes that are the server's fault: their spans are marked as errors (OpenTelemetry's rule for gRPC servers). */
const SERVER_FAULTS = new Set([2, 4, 12, 13, 14, 15]);

export async function startTracing(options: TracingOptions): Promise<Tracing> {
  const api = await import("@opentelemetry/api");
  const { AsyncLocalStorageContextManager } = await import("@opentelemetry/context-async-hooks");
  const { W3CTraceContextPropagator } = await import("@opentelemetry/core");
  const { resourceFromAttributes } = await import("@opentelemetry/resources");
  const sdk = await import("@opentelemetry/sdk-trace-base");
  let processor;
  if (options.exporter) {
    processor = new sdk.SimpleSpanProcessor(options.exporter);
  } else {
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-proto");
    processor = new sdk.BatchSpanProcessor(new OTLPTraceExporter());
  }
  const provider = new sdk.BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": options.serviceName }),
    spanProcessors: [processor],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  api.context.setGlobalContextManager(contextManager);
  const propagator = new W3CTraceContextPropagator();
  const tracer = provider.getTracer("ledger-of-record");

  setTraceHooks({
    call(system, path, header) {
      const parent = propagator.extract(api.ROOT_CONTEXT, undefined, { get: (_carrier, key) => header(key), keys: () => [] });
      const at = path.lastIndexOf("/");
      const service = path.slice(1, at);
      const method = path.slice(at + 1);
      const span = tracer.startSpan(
        `${service}/${method}`,
        { kind: api.SpanKind.SERVER, attributes: { "rpc.system": system, "rpc.service": service, "rpc.method": method } },
        parent,
      );
      const current = api.trace.setSpan(parent, span);
      return {
        run: (fn) => api.context.with(current, fn),
        end(code, message) {
          span.setAttribute("rpc.grpc.status_code", code);
          if (SERVER_FAULTS.has(code)) span.setStatus({ code: api.SpanStatusCode.ERROR, message });
          span.end();
        },
      };
    },
    database(name, work) {
      const span = tracer.startSpan(name, { kind: api.SpanKind.CLIENT, attributes: { "db.system.name": "postgresql" } });
      return api.context.with(api.trace.setSpan(api.context.active(), span), work).then(
        (value) => {
          span.end();
          return value;
        },
        (error: unknown) => {
          span.recordException(error instanceof Error ? error : String(error));
          span.setStatus({ code: api.SpanStatusCode.ERROR });
          span.end();
          throw error;
        },
      );
    },
  });

  return {
    async stop() {
      setTraceHooks(undefined);
      await provider.shutdown();
      api.context.disable();
    },
  };
}
