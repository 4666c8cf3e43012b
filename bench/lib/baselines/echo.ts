/** Starts and stops the bare grpc-js echo server (echo-server.ts) as a child process. */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface EchoServer {
  pid: number;
  target: string;
  stop(): Promise<void>;
}

const SCRIPT = fileURLToPath(new URL("./echo-server.ts", import.meta.url));

export function startEchoServer(timeoutMs = 30_000): Promise<EchoServer> {
  // execArgv is inherited: the tsx loader this bench runs under loads the .ts child too.
  const child = fork(SCRIPT, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await gone;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error("echo server did not start in time"));
    }, timeoutMs);
    child.on("message", (m: unknown) => {
      const port = (m as { echoPort?: number } | null)?.echoPort;
      if (typeof port !== "number") return; // tsx may talk on this channel too
      clearTimeout(timer);
      resolve({ pid: child.pid!, target: `127.0.0.1:${port}`, stop });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`echo server exited during start-up (code ${code})`));
    });
  });
}
