/** Protobuf Timestamp ⇄ Date, for every service's mapping. */
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";

export const ts = (date: Date): Timestamp => timestampFromDate(date);
export const dateOf = (t: Timestamp | undefined): Date | undefined => (t ? timestampDate(t) : undefined);
