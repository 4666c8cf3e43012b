/**
 * Wraps a service's handlers so that every failure leaves through
 * `toConnectError` (one error table, no internals leaking). The result is a
 * plain connect-es `ServiceImpl`, served unchanged by both transports.
 */
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { DomainError } from "../domain/errors.js";
import { checkCallMetadata } from "./call-context.js";
import { toConnectError } from "./errors.js";
import { checkRequest } from "./request-check.js";
import { validateRequest } from "./validation.js";

export interface ImplementedService<S extends DescService = DescService> {
  service: S;
  impl: ServiceImpl<S>;
}

/**
 * A method `impl` leaves out answers UNIMPLEMENTED (only transport tests and
 * benchmarks do that; the services themselves are typed as complete).
 */
export interface ImplementOptions {
  /**
   * Names failures that reach a handler from below the domain (e.g. the
   * database unavailable or too slow on a plain read), so the client sees a
   * retryable code rather than INTERNAL. The server wires the store's
   * classifier here; the transport itself knows no database. Default: none.
   */
  classify?: (error: unknown) => DomainError | undefined;
}

export function implement<S extends DescService>(
  service: S,
  impl: Partial<ServiceImpl<S>>,
  logger: Logger,
  options: ImplementOptions = {},
): ImplementedService<S> {
  const wrapped: Record<string, unknown> = {};
  for (const method of service.methods) {
    const handler = (impl as Record<string, unknown>)[method.localName];
    if (handler === undefined) {
      wrapped[method.localName] = () => {
        throw new ConnectError(`${service.typeName}.${method.name} is not implemented`, Code.Unimplemented);
      };
      continue;
    }
    if (method.methodKind !== "unary") {
      throw new Error(`${service.typeName}.${method.name}: only unary RPCs are served`);
    }
    const unary = handler as (req: unknown, ctx: HandlerContext) => unknown;
    wrapped[method.localName] = async (req: unknown, ctx: HandlerContext) => {
      try {
        // Every request, on every port, is checked here before any handler sees it:
        // storable text and timestamps, the caller's metadata, then the contract's rules.
        checkRequest(method.input, req);
        checkCallMetadata(ctx);
        validateRequest(method.input, req as never);
        return await unary.call(impl, req, ctx);
      } catch (error) {
        const named = options.classify?.(error);
        if (named) logger.error({ err: error, reason: named.reason, method: `${service.typeName}/${method.name}` }, "database unavailable or too slow");
        throw toConnectError(named ?? error, logger, `${service.typeName}/${method.name}`);
      }
    };
  }
  return { service, impl: wrapped as ServiceImpl<S> };
}
