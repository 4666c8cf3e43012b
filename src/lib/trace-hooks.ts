/**
 * Where tracing plugs in, with nothing of OpenTelemetry here: the transports
 * and the store call these hooks, and while no tracing is started
 * (src/server/tracing.ts, loaded only when OTEL_EXPORTER_OTLP_ENDPOINT is
 * set) each is one undefined check.
 */

/** A call's server span. */
export interface CallSpan {
  /** Runs the call's work with this span current (database spans become its children). */
  run<T>(fn: () => T): T;
  /** Ends the span with the call's gRPC status code. */
  end(code: number, message?: string): void;
}

export interface TraceHooks {
  /** A server span for one call, continuing the caller's `traceparent` (read through `header`). */
  call(system: string, path: string, header: (name: string) => string | undefined): CallSpan;
  /** Runs one database transaction (or statement) attempt in a child span of the current one. */
  database<T>(name: string, work: () => Promise<T>): Promise<T>;
}

let hooks: TraceHooks | undefined;

/** The active hooks, or undefined while tracing is off. */
export function traceHooks(): TraceHooks | undefined {
  return hooks;
}

/** Installed by tracing.ts when tracing starts; undefined when it stops. */
export function setTraceHooks(next: TraceHooks | undefined): void {
  hooks = next;
}

/** `work` in a database span when tracing is on; `work` alone otherwise. */
export function inDatabaseSpan<T>(name: string, work: () => Promise<T>): Promise<T> {
  return hooks ? hooks.database(name, work) : work();
}
