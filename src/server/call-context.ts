/**
 * The HandlerContext of a call on the grpc-js port, made for the usual case:
 * the call ends in time and nobody aborts it.
 *
 * connect-es' createHandlerContext links three AbortControllers (deadline,
 * request, shutdown), copies the request headers, and is released with
 * abort(), which on every successful call builds a DOMException and a
 * ConnectError and dispatches an abort event. Under `npm run bench` with
 * `node --cpu-prof`, AbortController, EventTarget, DOMException and
 * ConnectError came to about 8% of a Transfer's and of a GetBalance's server
 * CPU. Here a call has one AbortController, aborted only when the call
 * really ends early, with a ConnectError saying why:
 *
 * - its (capped) deadline passes: DEADLINE_EXCEEDED;
 * - the client cancels it: CANCELLED;
 * - the service's shutdown signal fires (after the drain): UNAVAILABLE,
 *   through one listener for all calls in flight rather than one per call.
 *
 * `done()` releases it without aborting: it clears the timer and forgets the
 * call. Listeners the handler added to `signal` die with it.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type HandlerContext } from "@connectrpc/connect";

export interface CallContext extends HandlerContext {
  /** Ends the call early with `reason` (idempotent: the first reason wins). */
  abort(reason: ConnectError): void;
  /** The call ended: clears the deadline timer; the signal stays as it is. */
  done(): void;
}

export interface CallInit {
  service: DescService;
  method: DescMethod;
  url: string;
  /** Milliseconds the call may run, already capped by MAX_DEADLINE_MS. */
  timeoutMs: number;
  requestHeader: Headers;
}

/** The calls in flight on one server, to abort together when it shuts down. */
export class CallContexts {
  private readonly inFlight = new Set<(reason: ConnectError) => void>();

  constructor(shutdownSignal?: AbortSignal) {
    if (!shutdownSignal) return;
    const onShutdown = () => {
      const reason = new ConnectError("the service is shutting down; retry on another instance", Code.Unavailable);
      for (const abort of [...this.inFlight.values()]) abort(reason);
    };
    if (shutdownSignal.aborted) queueMicrotask(onShutdown);
    else shutdownSignal.addEventListener("abort", onShutdown, { once: true });
  }

  /** How many calls are in flight (for tests and metrics). */
  get size(): number {
    return this.inFlight.size;
  }

  /**
   * A context for one call. `onAbort` hears of an abort after creation (a
   * deadline already past at creation aborts the signal at once, for the
   * handler to see, without calling it).
   */
  create(init: CallInit, onAbort: (reason: ConnectError) => void): CallContext {
    const controller = new AbortController();
    const deadlineAt = Date.now() + init.timeoutMs;
    const inFlight = this.inFlight;
    let timer: NodeJS.Timeout | undefined;
    let responseHeader: Headers | undefined;
    let responseTrailer: Headers | undefined;
    let created = false;
    const abort = (reason: ConnectError) => {
      clearTimeout(timer);
      inFlight.delete(abort);
      if (controller.signal.aborted) return;
      controller.abort(reason);
      if (created) onAbort(reason);
    };
    inFlight.add(abort);
    if (init.timeoutMs <= 0) abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
    else timer = setTimeout(() => abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)), init.timeoutMs);
    created = true;
    return {
      service: init.service,
      method: init.method,
      protocolName: "grpc",
      requestMethod: "POST",
      url: init.url,
      signal: controller.signal,
      timeoutMs: () => deadlineAt - Date.now(),
      requestHeader: init.requestHeader,
      // Nothing on this port reads them back: made only if a handler asks.
      get responseHeader() {
        return (responseHeader ??= new Headers());
      },
      get responseTrailer() {
        return (responseTrailer ??= new Headers());
      },
      values: createContextValues(),
      abort,
      done: () => {
        clearTimeout(timer);
        inFlight.delete(abort);
      },
    };
  }
}
