/**
 * Audit checkpoints: the chain's head, exported so that a later rewrite of
 * the log can be proven (README "Operator CLI"). The document:
 *
 *   {
 *     "checkpoint": {
 *       "format": "aevon.audit.checkpoint.v1",
 *       "sequence": "<n, decimal>",          // the last sealed event's position (0: nothing sealed)
 *       "hash": "<64 hex>",                   // its chain hash, hash_n (docs/AUDIT_CHAIN.md); zeros for 0
 *       "sealed_at": "<ISO-8601>" | null,     // when it was sealed
 *       "exported_at": "<ISO-8601>",
 *       "unsealed_count": "<n, decimal>"      // events written but not yet sealed at export
 *     },
 *     "digest": "sha256:<64 hex>",            // SHA-256 of canonical_json(checkpoint)
 *     "signature": {                          // only with --key
 *       "algorithm": "ed25519" | "ec" | "rsa" | …,  // the key's type (ec, rsa: SHA-256)
 *       "key_id": "sha256:<64 hex>",          // SHA-256 of the public key (DER SubjectPublicKeyInfo)
 *       "value": "<base64>"                   // signature of canonical_json(checkpoint)
 *     }
 *   }
 *
 * canonical_json is the chain's own encoding (src/domain/audit/chain.ts): no
 * whitespace, keys sorted. The digest makes an altered file evident; only a
 * signature proves who exported it.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { canonicalJson, hex } from "../domain/audit/chain.js";
import type { Checkpoint } from "../domain/audit/audit-log.js";
import { UsageError } from "./exit-codes.js";

export const CHECKPOINT_FORMAT = "aevon.audit.checkpoint.v1";

export interface CheckpointBody {
  format: string;
  sequence: string;
  hash: string;
  sealed_at: string | null;
  exported_at: string;
  unsealed_count: string;
}

export interface CheckpointDocument {
  checkpoint: CheckpointBody;
  digest: string;
  signature?: { algorithm: string; key_id: string; value: string };
}

/** ed25519 and ed448 sign the message itself; the other key types sign its SHA-256. */
const digestFor = (key: KeyObject) => (key.asymmetricKeyType === "ed25519" || key.asymmetricKeyType === "ed448" ? null : "sha256");
const keyIdOf = (publicKey: KeyObject) => `sha256:${createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("hex")}`;
const bytesOf = (body: CheckpointBody) => Buffer.from(canonicalJson({ ...body }), "utf8");

/** A private key (PEM) for signing; a UsageError names the option when it is not one. */
export function privateKeyFrom(pem: string, option: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (error) {
    throw new UsageError(`${option}: not a PEM private key (${(error as Error).message})`);
  }
}

/** A public key (PEM; a private key or certificate gives its public key); a UsageError names the option otherwise. */
export function publicKeyFrom(pem: string, option: string): KeyObject {
  try {
    return createPublicKey(pem);
  } catch (error) {
    throw new UsageError(`${option}: not a PEM public key or certificate (${(error as Error).message})`);
  }
}

/** The document for the head `head`, digested and, with a key, signed. */
export function checkpointDocument(head: Checkpoint, exportedAt: Date, key?: KeyObject): CheckpointDocument {
  const checkpoint: CheckpointBody = {
    format: CHECKPOINT_FORMAT,
    sequence: head.seq.toString(),
    hash: hex(head.hash),
    sealed_at: head.sealedAt?.toISOString() ?? null,
    exported_at: exportedAt.toISOString(),
    unsealed_count: head.unsealedCount.toString(),
  };
  const bytes = bytesOf(checkpoint);
  const document: CheckpointDocument = { checkpoint, digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}` };
  if (key) {
    const publicKey = createPublicKey(key);
    document.signature = {
      algorithm: key.asymmetricKeyType ?? "unknown",
      key_id: keyIdOf(publicKey),
      value: sign(digestFor(key), bytes, key).toString("base64"),
    };
  }
  return document;
}

/** A checkpoint file, read back: its sequence and hash, or what is wrong with it (the file was altered, or not signed by `publicKey`). */
export type OpenedCheckpoint = { ok: true; sequence: bigint; hash: string } | { ok: false; problem: string };

/** Parses and checks a checkpoint file. Unparsable input is a UsageError (exit 2); a file that fails its digest or signature is a finding. */
export function openCheckpoint(text: string, file: string, publicKey?: KeyObject): OpenedCheckpoint {
  let document: CheckpointDocument;
  try {
    document = JSON.parse(text) as CheckpointDocument;
  } catch {
    throw new UsageError(`--checkpoint ${file}: not JSON`);
  }
  const body = document?.checkpoint;
  if (
    typeof body !== "object" ||
    body === null ||
    body.format !== CHECKPOINT_FORMAT ||
    typeof body.sequence !== "string" ||
    !/^\d{1,19}$/.test(body.sequence) ||
    typeof body.hash !== "string" ||
    !/^[0-9a-f]{64}$/.test(body.hash)
  ) {
    throw new UsageError(`--checkpoint ${file}: not a ${CHECKPOINT_FORMAT} document (checkpoint.format, .sequence, .hash)`);
  }
  const bytes = bytesOf(body);
  const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  if (document.digest !== digest) return { ok: false, problem: `the checkpoint's digest does not match its contents (${file} was altered)` };
  if (publicKey) {
    const signature = document.signature;
    if (!signature || typeof signature.value !== "string") return { ok: false, problem: `${file} is not signed` };
    const valid = verify(digestFor(publicKey), bytes, publicKey, Buffer.from(signature.value, "base64"));
    if (!valid) return { ok: false, problem: `the signature of ${file} does not verify with the given public key (key ${keyIdOf(publicKey)})` };
  }
  return { ok: true, sequence: BigInt(body.sequence), hash: body.hash };
}
