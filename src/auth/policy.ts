/**
 * Authorization policy: deny-by-default method authorization in the JSON
 * format of gRFC A43, plus a `ledger.debit_grants` section that says who may
 * debit which kind of account. See docs/SECURITY.md for the format.
 *
 *   const policy = await loadPolicyFile("/etc/ledger/policy.json");
 *   policy.authorize({ principal, path: "/aevon.ledger.v1.LedgerService/Transfer", headers });
 *   policy.mayDebit(principal, { type: "SYSTEM", role: "issuance" });
 */
import { readFile, stat } from "node:fs/promises";
import { Policy } from "./policy-eval.js";
import { compilePolicy, PolicyError } from "./policy-parse.js";

export { Policy, DEFAULT_OPEN_PATH_PREFIXES, MAX_CACHED_PATHS } from "./policy-eval.js";
export type { AccountOwner, AuthorizationRequest, Decision, DebitDecision, HeaderSource } from "./policy-eval.js";
export { PolicyError, ACCOUNT_KINDS, MAX_POLICY_RULES, MAX_POLICY_LIST_ENTRIES, MAX_POLICY_STRING_LENGTH } from "./policy-parse.js";
export type { AccountKind } from "./policy-parse.js";

/** Largest policy file read, bytes. A policy is a few KiB; this bounds a wrong path. */
export const MAX_POLICY_FILE_BYTES = 1024 * 1024;

/** Parses policy JSON (text or an already-parsed value); throws PolicyError naming the rule and field. */
export function parsePolicy(json: string | unknown): Policy {
  let value: unknown = json;
  if (typeof json === "string") {
    try {
      value = JSON.parse(json);
    } catch (error) {
      throw new PolicyError(`policy: not valid JSON (${(error as Error).message})`);
    }
  }
  return new Policy(compilePolicy(value));
}

/** Reads and parses a policy file; throws PolicyError prefixed with the path. */
export async function loadPolicyFile(file: string, maxBytes = MAX_POLICY_FILE_BYTES): Promise<Policy> {
  let text: string;
  try {
    if ((await stat(file)).size > maxBytes) throw new PolicyError(`larger than ${maxBytes} bytes`);
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new PolicyError(`${file}: ${code ?? (error as Error).message}`);
  }
  try {
    return parsePolicy(text);
  } catch (error) {
    throw new PolicyError(`${file}: ${(error as Error).message}`);
  }
}
