/**
 * Admission for the grpc-js services that are not ours to adapt (health,
 * reflection): each handler runs only once the call is admitted; a refused
 * call is answered with its status (unary) or its stream is ended with it.
 */
import * as grpc from "@grpc/grpc-js";
import { DomainError } from "../domain/errors.js";
import { toConnectError } from "../rpc/errors.js";
import { groupOfPath, type Admission } from "./admission.js";
import { certificatePrincipalOf, grpcErrorOf } from "./grpc-server.js";

/** Wraps one handler of `path`; returns it unchanged without admission. */
export type HandlerGate = <H extends (...args: never[]) => void>(path: string, handler: H) => H;

type AnyCall = { metadata: grpc.Metadata; getAuthContext(): { sslPeerCertificate?: import("node:tls").PeerCertificate } | null };

export function grpcGate(admission: Admission | undefined): HandlerGate {
  if (!admission) return (_path, handler) => handler;
  return <H extends (...args: never[]) => void>(path: string, handler: H): H => {
    const group = groupOfPath(path, false);
    const gatedHandler = (call: AnyCall, callback?: grpc.sendUnaryData<unknown>) => {
      admission
        .admit({
          path,
          group,
          header: (name) => {
            const value = call.metadata.get(name)[0];
            return typeof value === "string" ? value : undefined;
          },
          certificatePrincipal: () => certificatePrincipalOf(call),
        })
        .then(
          (caller) => {
            caller.release();
            (handler as unknown as (call: AnyCall, callback?: grpc.sendUnaryData<unknown>) => void)(call, callback);
          },
          (error: unknown) => {
            const status = grpcErrorOf(toConnectError(error instanceof DomainError ? error : error));
            if (callback) callback(status, null);
            else (call as unknown as NodeJS.EventEmitter).emit("error", status);
          },
        );
    };
    return gatedHandler as unknown as H;
  };
}
