/**
 * The Prometheus endpoint: `GET /metrics` on its own plain-HTTP port
 * (METRICS_HOST:METRICS_PORT), apart from the service's ports so that it is
 * never behind their authentication or TLS, and can be firewalled on its
 * own. It has no authentication (docs/SECURITY.md). A failed collection
 * answers 500 and is logged; it never ends the process.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";

export interface Exposition {
  contentType: string;
  body: string;
}

export interface MetricsEndpoint {
  /** The bound port (useful when configured as 0). */
  port: number;
  close(): Promise<void>;
}

export async function serveMetrics(host: string, port: number, render: () => Promise<Exposition>, logger: Logger): Promise<MetricsEndpoint> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (path !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: the metrics are at GET /metrics\n");
      return;
    }
    render().then(
      ({ contentType, body }) => {
        res.writeHead(200, { "content-type": contentType, "cache-control": "no-store" }).end(req.method === "HEAD" ? undefined : body);
      },
      (err: unknown) => {
        logger.warn({ err }, "metrics: collection failed");
        res.writeHead(500, { "content-type": "text/plain" }).end("metrics collection failed\n");
      },
    );
  });
  // Prometheus keeps its connection open between scrapes (default interval 15 s… 1 min).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.removeListener("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => logger.warn({ err }, "metrics endpoint error"));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
