/**
 * gRPC connections to the server under test: grpc-js, raw bytes on the wire
 * (requests are encoded once with protobuf-es; replies stay bytes unless the
 * caller decodes them), TLS or plaintext, metadata on every call.
 */
import { readFileSync } from "node:fs";
import { create, fromBinary, toBinary, type DescMessage, type DescMethodUnary, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import type { TlsOptions } from "./flags.js";
import { compileTemplate, type CallContext, type Template } from "./template.js";

const identity = (b: Buffer): Buffer => b;

export interface ConnectionOptions {
  /** host:port */
  target: string;
  tls: TlsOptions;
  /** HTTP/2 connections; calls are spread round-robin. */
  connections: number;
  /** Metadata template (JSON object of strings), or none. */
  metadata?: string;
}

/** A failed call: its gRPC status name and message. */
export class CallError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class Connections {
  private readonly clients: grpc.Client[];
  private next = 0;
  private readonly metadataTemplates: [string, Template][];
  private readonly staticMetadata?: grpc.Metadata;

  constructor(readonly options: ConnectionOptions) {
    const { tls } = options;
    const credentials = tls.insecure
      ? grpc.credentials.createInsecure()
      : grpc.credentials.createSsl(
          tls.cacert ? readFileSync(tls.cacert) : null,
          tls.key ? readFileSync(tls.key) : null,
          tls.cert ? readFileSync(tls.cert) : null,
        );
    const channelOptions: grpc.ChannelOptions = {
      // Each client its own subchannel pool: otherwise grpc-js shares one connection between them.
      "grpc.use_local_subchannel_pool": 1,
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
      ...(tls.cname ? { "grpc.ssl_target_name_override": tls.cname, "grpc.default_authority": tls.cname } : {}),
    };
    this.clients = Array.from({ length: options.connections }, () => new grpc.Client(options.target, credentials, channelOptions));
    const md = options.metadata ? (JSON.parse(options.metadata) as Record<string, string>) : {};
    this.metadataTemplates = Object.entries(md).map(([k, v]) => [k, compileTemplate(v, `--metadata ${k}`)]);
    if (this.metadataTemplates.every(([, t]) => t.isStatic)) {
      this.staticMetadata = new grpc.Metadata();
      for (const [k, t] of this.metadataTemplates) this.staticMetadata.set(k, t.render(undefined as unknown as CallContext));
    }
  }

  metadataFor(ctx: CallContext): grpc.Metadata {
    if (this.staticMetadata) return this.staticMetadata.clone();
    const md = new grpc.Metadata();
    for (const [k, t] of this.metadataTemplates) md.set(k, t.render(ctx));
    return md;
  }

  /** One unary call with request bytes; `done` gets the reply bytes or a CallError. */
  callBytes(path: string, request: Buffer, metadata: grpc.Metadata, timeoutMs: number, done: (err: CallError | null, reply?: Buffer) => void): void {
    const client = this.clients[this.next++ % this.clients.length]!;
    client.makeUnaryRequest(path, identity, identity, request, metadata, { deadline: Date.now() + timeoutMs }, (err, reply) => {
      if (err) done(new CallError(grpc.status[err.code] ?? String(err.code), err.details || err.message));
      else done(null, reply!);
    });
  }

  /** A typed unary call (seeding, health): protobuf-es in, protobuf-es out. */
  call<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    request: MessageInitShape<I>,
    timeoutMs = 30_000,
  ): Promise<MessageShape<O>> {
    const path = `/${method.parent.typeName}/${method.name}`;
    const bytes = Buffer.from(toBinary(method.input, create(method.input, request)));
    const ctx: CallContext = { requestNumber: 0, workerId: "setup", fullName: path.slice(1), inputName: method.input.name, outputName: method.output.name };
    return new Promise((resolve, reject) =>
      this.callBytes(path, bytes, this.metadataFor(ctx), timeoutMs, (err, reply) => {
        if (err) reject(new Error(`${path.slice(1)}: ${err.code}: ${err.message}`, { cause: err }));
        else resolve(fromBinary(method.output, reply!));
      }),
    );
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}
