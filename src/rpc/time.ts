/**
 * Protobuf Timestamp ⇄ Date, for every service's mapping. Stored times are
 * whole milliseconds (the writes truncate them), and a request's bounds may
 * carry nanoseconds; rounding a bound to the nearest millisecond would move
 * it across a stored time. So each kind of bound is rounded the way that
 * keeps its comparison exact for millisecond values:
 * - `time >= t` and `time < t` hold exactly when they hold for ceil(t);
 * - `time <= t` holds exactly when it holds for floor(t).
 */
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";

const NANOS_PER_MS = 1_000_000;

export const ts = (date: Date): Timestamp => timestampFromDate(date);

/** An inclusive lower or exclusive upper bound (`start_time`, `end_time`, `created_after`, `created_before`): up to the next millisecond. */
export const ceilDate = (t: Timestamp | undefined): Date | undefined =>
  t ? new Date(Number(t.seconds) * 1000 + Math.ceil(t.nanos / NANOS_PER_MS)) : undefined;

/** An inclusive upper bound (`as_of_time`, "at or before"): down to the millisecond. */
export const floorDate = (t: Timestamp | undefined): Date | undefined =>
  t ? new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / NANOS_PER_MS)) : undefined;
