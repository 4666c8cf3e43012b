/** Timestamps a few nanoseconds off a stored time, for testing bounds finer than a millisecond. */
import { create } from "@bufbuild/protobuf";
import { TimestampSchema, type Timestamp } from "@bufbuild/protobuf/wkt";

const NANOS_PER_S = 1_000_000_000;

/** `t` moved by `nanos` (negative: earlier), carried into seconds. */
export function shiftNanos(t: Timestamp, nanos: number): Timestamp {
  const total = t.nanos + nanos;
  const carry = Math.floor(total / NANOS_PER_S);
  return create(TimestampSchema, { seconds: t.seconds + BigInt(carry), nanos: total - carry * NANOS_PER_S });
}
