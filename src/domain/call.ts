/** Who is calling, as every use case sees it: carried from the transport into what the call writes. */

/** The kind of account a debit takes money from, as the authorization policy names it. */
export type DebitSource = { type: "USER" } | { type: "SYSTEM"; role: "issuance" | "treasury" | "fees" | "external_settlement" };

/** Every kind of account a debit can come from. */
export const DEBIT_SOURCES: readonly DebitSource[] = [
  { type: "USER" },
  { type: "SYSTEM", role: "issuance" },
  { type: "SYSTEM", role: "treasury" },
  { type: "SYSTEM", role: "fees" },
  { type: "SYSTEM", role: "external_settlement" },
];

/** The kinds a caller may debit (null: not checked, any). */
export function debitGrantsOf(mayDebit: CallContext["mayDebit"]): DebitSource[] | null {
  return mayDebit ? DEBIT_SOURCES.filter((source) => mayDebit(source)) : null;
}

/** The caller of one RPC. */
export interface CallContext {
  /** The caller's authenticated principal, recorded as the actor of the audit events the call causes. */
  actor: string;
  /** Whom the caller says it acts for (`x-actor`), recorded beside the actor; null when not given. */
  onBehalfOf: string | null;
  /** The caller's request id (`x-request-id`), recorded in the audit events. */
  requestId: string;
  /**
   * Aborted when the caller is gone (its deadline passed, or it cancelled).
   * Work for a caller who has gone is not started, and a transaction whose
   * caller is gone before COMMIT is rolled back. Undefined: the service's own work.
   */
  signal?: AbortSignal;
  /**
   * Whether the caller may debit an account of this kind (the authorization
   * policy's debit grants). Undefined: no policy, any debit is allowed.
   */
  mayDebit?: (source: DebitSource) => boolean;
}

/** The context of work the service does on its own (hold expiry). */
export const SYSTEM_CONTEXT: CallContext = { actor: "system:ledger-of-record", onBehalfOf: null, requestId: "" };

/** Throws why the caller is gone (the transport's deadline or cancellation error), if it is. */
export function throwIfGone(context: CallContext): void {
  context.signal?.throwIfAborted();
}
