/**
 * A TCP proxy between the service and PostgreSQL, standing for the network
 * (a load balancer, a NAT, a cable). It forwards bytes untouched until told
 * to `cut`: then it drops every connection through it without PostgreSQL
 * saying a word, closing them (FIN) or resetting them (RST).
 */
import { connect, createServer, type AddressInfo, type Socket } from "node:net";

export interface NetworkCut {
  /** `url` with its host and port replaced by the proxy's. */
  url: string;
  /** Drops every connection open through the proxy; new ones still get through. */
  cut(how: "close" | "reset"): void;
  stop(): Promise<void>;
}

export async function startNetworkProxy(databaseUrl: string): Promise<NetworkCut> {
  const target = new URL(databaseUrl);
  const pairs = new Set<[Socket, Socket]>();
  const sockets = new Set<Socket>();
  const server = createServer((downstream) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    const pair: [Socket, Socket] = [downstream, upstream];
    pairs.add(pair);
    // One side closed: the other is ended once what it was sent has been written (PostgreSQL's last
    // reply and its termination notice reach the service); one side failed: both go at once.
    // Unless `cut` is already taking the pair down its own way.
    const drop = (how: "end" | "destroy") => {
      if (!pairs.delete(pair)) return;
      for (const s of pair) {
        if (how === "end") s.end();
        else s.destroy();
      }
    };
    for (const s of pair) {
      sockets.add(s);
      s.on("error", () => drop("destroy")).on("close", () => {
        sockets.delete(s);
        drop("end");
      });
    }
    downstream.pipe(upstream).pipe(downstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = new URL(databaseUrl);
  url.hostname = "127.0.0.1";
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    cut(how) {
      const all = [...pairs];
      pairs.clear();
      for (const [downstream, upstream] of all) {
        downstream.unpipe(upstream);
        upstream.unpipe(downstream);
        if (how === "reset") downstream.resetAndDestroy();
        else downstream.end();
        upstream.destroy();
      }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
