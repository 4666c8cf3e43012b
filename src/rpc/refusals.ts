/**
 * A final refusal as stored under an idempotency key: the google.rpc.Status
 * the client was told (code, message, details), as protobuf bytes. A replay
 * decodes it back into the identical error, on any replica and either port.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";
import type { DomainError } from "../domain/errors.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import { toConnectError } from "./errors.js";

/** The Status a ConnectError stands for, its details packed as Any (outgoing or as received). */
export function statusOf(error: ConnectError) {
  const details = error.details.map((d) =>
    "desc" in d ? anyPack(d.desc, create(d.desc, d.value)) : { $typeName: "google.protobuf.Any" as const, typeUrl: `type.googleapis.com/${d.type}`, value: d.value },
  );
  return create(StatusSchema, { code: error.code, message: error.rawMessage, details });
}

/** Encodes a final refusal for storage under its key. */
export function encodeRefusal(error: DomainError): Uint8Array {
  return toBinary(StatusSchema, statusOf(toConnectError(error)));
}

/** The error a stored refusal stands for. */
export function decodeRefusal(bytes: Uint8Array): ConnectError {
  const status = fromBinary(StatusSchema, bytes);
  const error = new ConnectError(status.message, status.code);
  error.details = status.details.map((any) => ({ type: any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1), value: any.value }));
  return error;
}
