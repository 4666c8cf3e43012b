/**
 * Admission of every call, on both ports, before any handler runs:
 *
 *   authenticate (a principal, or UNAUTHENTICATED) · authorize the method
 *   (the policy, deny by default; PERMISSION_DENIED) · take a token from the
 *   principal's rate limit (RESOURCE_EXHAUSTED with RetryInfo) · take a slot
 *   of the concurrency caps (global and per principal)
 *
 * Health and reflection are open unless the policy denies them: a caller
 * without credentials is `anonymous` there, and they are not rate limited.
 * A refusal is logged with the principal and the method.
 */
import type { Logger } from "pino";
import { AuthError } from "../auth/errors.js";
import { ANONYMOUS_PRINCIPAL } from "../auth/principal.js";
import type { DebitSource } from "../domain/call.js";
import { DomainError, ErrorReason } from "../domain/errors.js";
import type { Security } from "./security.js";

/** The kind of call, for rate limits: mutations, reads, or the always-open health and reflection. */
export type CallGroup = "write" | "read" | "open";

/** Paths open to every caller unless a deny rule says otherwise (the policy's own list). */
const OPEN_PREFIXES = ["/grpc.health.v1.Health/", "/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/"];

export function groupOfPath(path: string, mutating: boolean): CallGroup {
  if (OPEN_PREFIXES.some((p) => path.startsWith(p))) return "open";
  return mutating ? "write" : "read";
}

export interface CallCredentialsIn {
  /** `/package.Service/Method`. */
  path: string;
  group: CallGroup;
  /** Reads a request header (metadata), lower-case name. */
  header(name: string): string | undefined;
  /** The verified client certificate's principal, when the connection is mTLS (read only in mTLS mode: it costs). */
  certificatePrincipal(): string | undefined;
}

export interface Admitted {
  principal: string;
  /** The policy's debit grants for this principal; undefined without a policy. */
  mayDebit: ((source: DebitSource) => boolean) | undefined;
  /** Gives back the concurrency slot; call once when the call ends. */
  release(): void;
}

const NOTHING = () => undefined;
const TOO_MANY_CALLS_RETRY_MS = 20;

export class Admission {
  constructor(
    private readonly security: Security,
    private readonly logger: Logger,
  ) {}

  /** Admits the call or throws a DomainError (UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED, or UNAVAILABLE for keys). */
  async admit(call: CallCredentialsIn): Promise<Admitted> {
    const { security } = this;
    const principal = await this.authenticate(call);
    if (security.policy) {
      const decision = security.policy.authorize({ principal, path: call.path, headers: call.header });
      if (!decision.allowed) {
        this.logger.warn({ principal, method: call.path, by: decision.by, rule: decision.matchedRule }, "call refused by the authorization policy");
        throw new DomainError(ErrorReason.PERMISSION_DENIED, `${principal} may not call ${call.path}`, undefined, { method: call.path });
      }
    }
    if (call.group === "open") return { principal, mayDebit: undefined, release: NOTHING };
    const rate = security.rate.take(principal, call.group);
    if (!rate.ok) {
      throw new DomainError(ErrorReason.RATE_LIMITED, `${principal} is over its ${call.group} rate limit; retry later`, undefined, {}, {
        retryAfterMs: Math.ceil(rate.retryAfterMs),
      });
    }
    const slot = security.concurrency.acquire(principal);
    if (!slot.ok) {
      const whose = slot.limit === "global" ? "the service's" : `${principal}'s`;
      throw new DomainError(ErrorReason.TOO_MANY_CALLS, `too many calls in flight (${whose} limit of ${slot.max}); retry shortly`, undefined, {}, {
        retryAfterMs: TOO_MANY_CALLS_RETRY_MS,
      });
    }
    const policy = security.policy;
    return { principal, mayDebit: policy && ((source) => policy.mayDebit(principal, source).allowed), release: slot.release };
  }

  private async authenticate(call: CallCredentialsIn): Promise<string> {
    try {
      return await this.security.authenticator.authenticate({
        certificatePrincipal: this.security.mode === "mtls" ? call.certificatePrincipal() : undefined,
        authorization: call.header("authorization"),
      });
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      // Health and reflection answer callers without credentials (probes, grpcurl list).
      if (call.group === "open") return ANONYMOUS_PRINCIPAL;
      this.logger.info({ method: call.path, reason: error.reason }, "call refused: not authenticated");
      throw new DomainError(error.reason, error.message);
    }
  }
}
