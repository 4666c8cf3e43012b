/**
 * The grpc-js port's call contexts (src/server/call-context.ts): aborted only
 * when a call ends early, with a ConnectError saying why; released without
 * an abort when it ends in time.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it, vi } from "vitest";
import { LedgerService } from "../../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { CallContexts } from "../../../src/server/call-context.js";

const init = (timeoutMs: number) => ({
  service: LedgerService,
  method: LedgerService.method.transfer,
  url: "/aevon.ledger.v1.LedgerService/Transfer",
  timeoutMs,
  requestHeader: new Headers({ "x-request-id": "r1" }),
});

afterEach(() => vi.useRealTimers());

describe("call contexts on the grpc-js port", () => {
  it("a call that ends in time is released without an abort, and its timer with it", () => {
    vi.useFakeTimers();
    const contexts = new CallContexts();
    const heard: ConnectError[] = [];
    const context = contexts.create(init(1000), (r) => heard.push(r));
    expect(contexts.size).toBe(1);
    context.done();
    expect(contexts.size).toBe(0);
    vi.advanceTimersByTime(5000);
    expect(context.signal.aborted).toBe(false);
    expect(heard).toEqual([]);
    expect(context.requestHeader.get("x-request-id")).toBe("r1");
  });

  it("its deadline aborts it with DEADLINE_EXCEEDED, once", () => {
    vi.useFakeTimers();
    const contexts = new CallContexts();
    const heard: ConnectError[] = [];
    const context = contexts.create(init(50), (r) => heard.push(r));
    expect(context.timeoutMs()).toBeGreaterThan(0);
    vi.advanceTimersByTime(50);
    expect(context.signal.aborted).toBe(true);
    expect((context.signal.reason as ConnectError).code).toBe(Code.DeadlineExceeded);
    context.abort(new ConnectError("call cancelled by client", Code.Canceled));
    expect(heard.map((r) => r.code)).toEqual([Code.DeadlineExceeded]);
    expect(contexts.size).toBe(0);
  });

  it("a deadline already past aborts the signal at creation, for the handler to see", () => {
    const heard: ConnectError[] = [];
    const context = new CallContexts().create(init(0), (r) => heard.push(r));
    expect(context.signal.aborted).toBe(true);
    expect((context.signal.reason as ConnectError).code).toBe(Code.DeadlineExceeded);
    expect(heard).toEqual([]);
  });

  it("the shutdown signal aborts the calls in flight with UNAVAILABLE, not those that ended", () => {
    const shutdown = new AbortController();
    const contexts = new CallContexts(shutdown.signal);
    const heard: Code[] = [];
    const ended = contexts.create(init(60_000), (r) => heard.push(r.code));
    const running = [contexts.create(init(60_000), (r) => heard.push(r.code)), contexts.create(init(60_000), (r) => heard.push(r.code))];
    ended.done();
    shutdown.abort();
    expect(heard).toEqual([Code.Unavailable, Code.Unavailable]);
    expect(running.every((c) => c.signal.aborted)).toBe(true);
    expect(ended.signal.aborted).toBe(false);
    expect(contexts.size).toBe(0);
  });

  it("response headers and trailers are there when a handler asks", () => {
    const context = new CallContexts().create(init(1000), () => undefined);
    context.responseTrailer.set("x-a", "1");
    expect(context.responseTrailer.get("x-a")).toBe("1");
    expect(context.responseHeader).toBe(context.responseHeader);
    context.done();
  });
});
