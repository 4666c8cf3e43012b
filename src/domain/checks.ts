/**
 * Checks shared by the use cases: ids in their canonical form (the store and
 * PostgreSQL compare them as given), and currency codes of configuration.
 * The static limits of requests (lengths, patterns, ranges) are rules of the
 * contract in proto/, enforced in src/rpc/validation.ts.
 */
import { isUuid } from "../lib/ids.js";
import { invalidArgument } from "./errors.js";

export function checkId(field: string, id: string): string {
  if (!isUuid(id)) throw invalidArgument(field, "must be a UUID (lower-case, hyphenated)");
  return id;
}

/** Currency codes: 3 to 12 of [A-Z0-9], starting with a letter. */
export const CURRENCY_CODE_PATTERN = /^[A-Z][A-Z0-9]{2,11}$/;

export function checkCurrencyCode(field: string, code: string): string {
  if (!CURRENCY_CODE_PATTERN.test(code)) {
    throw invalidArgument(field, "must be 3 to 12 characters of A-Z and 0-9, starting with a letter (e.g. USD)");
  }
  return code;
}

/** A half-open time range: `start` inclusive, `end` exclusive; either may be open. */
export interface TimeRange {
  start?: Date;
  end?: Date;
}
