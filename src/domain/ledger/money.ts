/**
 * Amounts are integer minor units held as bigint, and must stay within int64
 * (the wire type and PostgreSQL BIGINT). Nothing here ever uses a JS number.
 */
import { DomainError, ErrorReason, invalidArgument } from "../errors.js";

export const INT64_MAX = 9_223_372_036_854_775_807n;
export const INT64_MIN = -9_223_372_036_854_775_808n;

/** A transfer or hold amount: strictly positive. */
export function checkPositiveAmount(field: string, amount: bigint): bigint {
  if (amount <= 0n) throw invalidArgument(field, "must be greater than zero (integer minor units)");
  return amount;
}

/** Asserts a computed value is inside int64, or fails with OUT_OF_RANGE naming `what`. */
export function checkInt64(what: string, value: bigint, field?: string): bigint {
  if (value > INT64_MAX || value < INT64_MIN) {
    throw new DomainError(ErrorReason.AMOUNT_OVERFLOW, `${what} would overflow int64`, field);
  }
  return value;
}
