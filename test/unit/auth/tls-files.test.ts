/**
 * readTlsFiles names the same file whichever read fails first: a start with
 * several bad files (or WORKERS > 1, each process reading them) always stops
 * with one message. The certificate is a FIFO so that its read is the slow
 * one: it fails (empty) only after the key's read has already failed.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readTlsFiles } from "../../../src/auth/tls-material.js";

const dir = mkdtempSync(join(tmpdir(), "tls-files-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("readTlsFiles", () => {
  it("reports the first bad file in declared order, not the first read to fail", async () => {
    const certFile = join(dir, "slow.crt");
    execFileSync("mkfifo", [certFile]);
    const reading = readTlsFiles({ certFile, keyFile: join(dir, "missing.key") });
    const outcome = reading.then(() => "read", (error: Error) => error.message);
    // The key's ENOENT comes back while the certificate's open still waits for a writer.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const writer = await open(certFile, "w");
    await writer.close();
    expect(await outcome).toBe(`TLS_CERT_FILE ${certFile}: empty`);
  });

  it("reads all three when they are there", async () => {
    for (const name of ["a.crt", "a.key", "ca.crt"]) writeFileSync(join(dir, name), name);
    const read = await readTlsFiles({ certFile: join(dir, "a.crt"), keyFile: join(dir, "a.key"), clientCaFile: join(dir, "ca.crt") });
    expect([read.cert.toString(), read.key.toString(), read.ca?.toString()]).toEqual(["a.crt", "a.key", "ca.crt"]);
  });
});
