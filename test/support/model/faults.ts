/** Small tools for the fault tests: a free port, a pause, and the answers a run's attempts got. */
import type { Run } from "./workload.js";

export { freePort } from "../free-port.js";
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Codes a decided key may answer with, plus key reuse (the probes) and OK. */
const DECIDED = new Set(["OK", "FailedPrecondition", "NotFound", "OutOfRange", "AlreadyExists"]);

/**
 * The answers of attempts that were neither decided nor given a short
 * deadline on purpose, with how often each came: what a fault made the
 * service answer.
 */
export function faultAnswers(run: Run): Record<string, number> {
  const seen: Record<string, number> = {};
  for (const op of run.ops) {
    for (const a of op.attempts) {
      if (a.shortDeadlineMs !== undefined || DECIDED.has(a.answer.split("/")[0]!)) continue;
      seen[a.answer] = (seen[a.answer] ?? 0) + 1;
    }
  }
  return seen;
}

export interface ReplyHold {
  /** host:port of the proxy, for a client. */
  grpcAddress: string;
  /** From now on, bytes from the service to the client are held back (the request still goes through). */
  hold(): void;
  /** Delivers what was held, and everything after it. */
  release(): void;
  stop(): Promise<void>;
}

/**
 * A TCP proxy in front of the service that can hold back its replies: the
 * request reaches the service and is executed, but the client hears nothing
 * until released, so its deadline passes after the commit.
 */
export async function startReplyHold(address: string): Promise<ReplyHold> {
  const { connect, createServer: createTcpServer } = await import("node:net");
  const [host, port] = [address.split(":")[0]!, Number(address.split(":")[1])];
  let holding = false;
  const held: { socket: import("node:net").Socket; chunks: Buffer[] }[] = [];
  const sockets = new Set<import("node:net").Socket>();
  const server = createTcpServer((client) => {
    const upstream = connect(port, host);
    const entry = { socket: client, chunks: [] as Buffer[] };
    held.push(entry);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined).on("close", () => sockets.delete(s));
    }
    client.on("data", (d) => upstream.write(d));
    upstream.on("data", (d) => (holding ? entry.chunks.push(d) : client.write(d)));
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    grpcAddress: `127.0.0.1:${(server.address() as { port: number }).port}`,
    hold: () => (holding = true),
    release: () => {
      holding = false;
      for (const e of held) for (const c of e.chunks.splice(0)) e.socket.write(c);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
