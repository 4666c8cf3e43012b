/**
 * Reads and checks TLS files: a server certificate chain and its key, and an
 * optional bundle of CA certificates trusted for client certificates. Nothing
 * is accepted that Node's TLS would refuse later: the key must match the
 * certificate, the certificate must not be expired, every CA entry must be a
 * CA certificate, and `tls.createSecureContext` must take the lot.
 */
import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { open } from "node:fs/promises";
import { createSecureContext } from "node:tls";

/** Where the files are (the values of TLS_CERT_FILE, TLS_KEY_FILE, TLS_CLIENT_CA_FILE). */
export interface TlsFiles {
  /** PEM server certificate, leaf first, then intermediates. */
  readonly certFile: string;
  /** PEM private key of the leaf (unencrypted). */
  readonly keyFile: string;
  /** PEM bundle of CAs whose client certificates are accepted; absent = no client certificates requested. */
  readonly clientCaFile?: string | undefined;
}

/** Loaded, checked material. Buffers are the exact file contents. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
  /** SHA-256 fingerprint of the server leaf certificate, `AB:CD:…` (as in `PeerCertificate.fingerprint256`). */
  readonly fingerprint256: string;
  /** The leaf's notAfter, as printed by Node. */
  readonly validTo: string;
  /** How many CA certificates the client CA bundle holds (0 without one). */
  readonly clientCaCount: number;
  /** SHA-256 over the three files: equal digests mean nothing changed. */
  readonly digest: string;
}

/** Largest file read, in bytes: a PEM chain or CA bundle is a few KiB; this bounds a mistaken path (a log file, a device). */
export const MAX_TLS_FILE_BYTES = 1024 * 1024;

/** The raw bytes of the files, before any check. */
export interface TlsFileContents {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
}

async function readBounded(file: string, label: string, maxBytes: number): Promise<Buffer> {
  let handle;
  try {
    handle = await open(file, "r");
  } catch (error) {
    throw new Error(`${label} ${file}: ${(error as NodeJS.ErrnoException).code ?? "cannot be opened"}`);
  }
  try {
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw new Error(`${label} ${file}: larger than ${maxBytes} bytes`);
    }
    if (length === 0) throw new Error(`${label} ${file}: empty`);
    return Buffer.from(buffer.subarray(0, length));
  } finally {
    await handle.close();
  }
}

/** Reads the files (following symlinks, so a swapped `..data` link is seen). Throws naming the file. */
export async function readTlsFiles(files: TlsFiles, maxBytes = MAX_TLS_FILE_BYTES): Promise<TlsFileContents> {
  // allSettled, then the first failure in this order: the message is the same
  // on every start and in every worker, whichever read happens to fail first.
  const [cert, key, ca] = await Promise.allSettled([
    readBounded(files.certFile, "TLS_CERT_FILE", maxBytes),
    readBounded(files.keyFile, "TLS_KEY_FILE", maxBytes),
    files.clientCaFile === undefined ? undefined : readBounded(files.clientCaFile, "TLS_CLIENT_CA_FILE", maxBytes),
  ]);
  for (const read of [cert, key, ca]) if (read.status === "rejected") throw read.reason;
  return {
    cert: (cert as PromiseFulfilledResult<Buffer>).value,
    key: (key as PromiseFulfilledResult<Buffer>).value,
    ca: (ca as PromiseFulfilledResult<Buffer | undefined>).value,
  };
}

export function digestOf(contents: TlsFileContents): string {
  const hash = createHash("sha256");
  for (const part of [contents.cert, contents.key, contents.ca ?? Buffer.alloc(0)]) {
    hash.update(String(part.length)).update(":").update(part);
  }
  return hash.digest("hex");
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Checks the contents and returns the material, or throws an Error whose
 * message names the variable at fault (never key bytes).
 */
export function checkTlsMaterial(contents: TlsFileContents, now: Date = new Date()): TlsMaterial {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(contents.cert);
  } catch {
    throw new Error("TLS_CERT_FILE: not a PEM certificate");
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(contents.key);
  } catch {
    throw new Error("TLS_KEY_FILE: not an unencrypted PEM private key");
  }
  if (!leaf.checkPrivateKey(privateKey)) throw new Error("TLS_KEY_FILE: the key does not match the certificate in TLS_CERT_FILE");
  if (new Date(leaf.validTo).getTime() < now.getTime()) {
    throw new Error(`TLS_CERT_FILE: the certificate expired on ${leaf.validTo}`);
  }
  let clientCaCount = 0;
  if (contents.ca !== undefined) {
    const blocks = contents.ca.toString("latin1").match(PEM_CERTIFICATE) ?? [];
    if (blocks.length === 0) throw new Error("TLS_CLIENT_CA_FILE: holds no PEM certificate");
    blocks.forEach((block, index) => {
      let ca: X509Certificate;
      try {
        ca = new X509Certificate(block);
      } catch {
        throw new Error(`TLS_CLIENT_CA_FILE: certificate ${index} is not a valid certificate`);
      }
      if (!ca.ca) throw new Error(`TLS_CLIENT_CA_FILE: certificate ${index} (${ca.subject.replace(/\n/g, ", ")}) is not a CA certificate`);
    });
    clientCaCount = blocks.length;
  }
  try {
    createSecureContext({ cert: contents.cert, key: contents.key, ca: contents.ca });
  } catch (error) {
    throw new Error(`TLS files refused by Node's TLS: ${(error as Error).message}`);
  }
  return {
    cert: contents.cert,
    key: contents.key,
    ca: contents.ca,
    fingerprint256: leaf.fingerprint256,
    validTo: leaf.validTo,
    clientCaCount,
    digest: digestOf(contents),
  };
}
