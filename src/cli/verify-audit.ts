/**
 * `verify-audit`: recomputes the audit hash chain with the service's own
 * verifier (AuditLog.verifyChain over the audit store), in steps, and
 * reports the first broken sequence; optionally checks that the log still
 * holds a previously exported checkpoint.
 */
import { readFile } from "node:fs/promises";
import { AuditLog, type Verification } from "../domain/audit/audit-log.js";
import type { Db } from "../lib/prisma.js";
import { createAuditStore } from "../store/audit-store.js";
import { openCheckpoint } from "./checkpoint.js";
import { EXIT, UsageError, type ExitCode } from "./exit-codes.js";
import type { Progress } from "./progress.js";
import type { KeyObject } from "node:crypto";

/** Links verified per call: small enough for a lively progress display, large enough to be cheap (5 reads of 2,000). */
const LINKS_PER_STEP = 10_000n;

export interface VerifyAuditOptions {
  /** First sequence to verify. Default 1. */
  from?: bigint;
  /** Last sequence to verify. Default: the head when the run starts. */
  to?: bigint;
  /** A file written by export-checkpoint that the log must still hold. */
  checkpointFile?: string;
  /** With checkpointFile: the key its signature must verify with. */
  publicKey?: KeyObject;
  /** Result lines (stdout). */
  print(line: string): void;
  progress?: Progress;
}

const MISMATCH: Record<Verification["mismatch"], string> = {
  "": "",
  hash: "its hash is not SHA-256(previous hash || its event)",
  previous_hash: "its previous hash is not the hash of the sequence before it",
  missing_event: "its event is missing",
  sequence_gap: "the sequence is missing",
};

export async function verifyAudit(db: Db, options: VerifyAuditOptions): Promise<ExitCode> {
  const store = createAuditStore(db);
  const audit = new AuditLog(store);
  const head = (await store.head()).seq;
  const from = options.from ?? 1n;
  const to = options.to ?? head;
  if (from < 1n) throw new UsageError(`--from must be 1 or more, got ${from}`);
  if (options.to !== undefined) {
    if (to > head) throw new UsageError(`--to ${to} is beyond the chain's head: sequence ${head} is the last sealed`);
    if (from > to) throw new UsageError(`--from ${from} is after --to ${to}`);
  } else if (head > 0n && from > head) {
    throw new UsageError(`--from ${from} is beyond the chain's head: sequence ${head} is the last sealed`);
  }

  let status: ExitCode = EXIT.OK;
  if (options.checkpointFile) status = await checkCheckpoint(store, options);
  if (head === 0n) {
    options.print("audit chain: nothing sealed yet, nothing to verify");
    return status;
  }

  let next = from;
  let checked = 0n;
  const total = to - from + 1n;
  for (;;) {
    const result = await audit.verifyChain(next, to, LINKS_PER_STEP);
    checked += result.checked;
    options.progress?.update(checked, total);
    if (!result.ok) {
      options.progress?.finish();
      options.print(
        `audit chain broken at sequence ${result.firstBrokenSeq}: ${MISMATCH[result.mismatch]} ` +
          `(${result.mismatch}: expected ${result.expected}, stored ${result.actual}); ${checked} links before it verified`,
      );
      return EXIT.INCONSISTENT;
    }
    if (result.nextSeq === 0n) break;
    next = result.nextSeq;
  }
  options.progress?.finish();
  options.print(`audit chain verified: sequences ${from} to ${to} (${checked} links)`);
  return status;
}

/** The exported checkpoint must be intact and the log must still have its hash at its sequence. */
async function checkCheckpoint(store: ReturnType<typeof createAuditStore>, options: VerifyAuditOptions): Promise<ExitCode> {
  const file = options.checkpointFile!;
  const text = await readFile(file, "utf8").catch((error: Error) => {
    throw new UsageError(`--checkpoint ${file}: ${error.message}`);
  });
  const opened = openCheckpoint(text, file, options.publicKey);
  if (!opened.ok) {
    options.print(`checkpoint: ${opened.problem}`);
    return EXIT.INCONSISTENT;
  }
  if (opened.sequence === 0n) {
    options.print("checkpoint: taken before anything was sealed; nothing to compare");
    return EXIT.OK;
  }
  const seal = await store.sealAt(opened.sequence);
  if (!seal) {
    options.print(`checkpoint: sequence ${opened.sequence} is in the checkpoint but no longer in the chain (the log was truncated)`);
    return EXIT.INCONSISTENT;
  }
  const stored = Buffer.from(seal.hash).toString("hex");
  if (stored !== opened.hash) {
    options.print(`checkpoint: sequence ${opened.sequence}'s hash is ${stored}, the checkpoint says ${opened.hash} (the log was rewritten)`);
    return EXIT.INCONSISTENT;
  }
  options.print(`checkpoint: sequence ${opened.sequence} still has the exported hash ${opened.hash}`);
  return EXIT.OK;
}
