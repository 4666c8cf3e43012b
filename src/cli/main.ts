#!/usr/bin/env node
/**
 * The operator CLI: `npx ledger-of-record <command>` (package.json `bin`, the
 * compiled dist/src/cli/main.js) or `npm run cli -- <command>` (from source).
 * Commands and exit codes: help.ts, exit-codes.ts, README "Operator CLI".
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { AuditLog } from "../domain/audit/audit-log.js";
import type { Db } from "../lib/prisma.js";
import { createAuditStore } from "../store/audit-store.js";
import { dbErrorFacts, isUnavailable } from "../store/db-errors.js";
import { checkpointDocument, privateKeyFrom, publicKeyFrom } from "./checkpoint.js";
import { connect, ownerUrl, readOnly, readUrl } from "./connect.js";
import { createCurrency, newCurrency } from "./create-currency.js";
import { EXIT, UsageError, type ExitCode } from "./exit-codes.js";
import { COMMAND_HELP, OVERVIEW } from "./help.js";
import { deploy, describePending, pending } from "./migrate.js";
import { Progress } from "./progress.js";
import { BATCH_SIZE, ENTRIES_BATCH_SIZE, reconcile } from "./reconcile.js";
import { verifyAudit } from "./verify-audit.js";

const print = (line: string) => void process.stdout.write(`${line}\n`);
const warn = (line: string) => void process.stderr.write(`${line}\n`);

/** Bounds of reconcile's --timeout-ms: at least a second, at most a day (a snapshot held longer holds back vacuum too long). */
const TIMEOUT_MS = { default: 3_600_000, min: 1_000, max: 86_400_000 } as const;

/** Clients opened by the command, closed on the way out whatever happens. */
const opened: Db[] = [];
function open(url: string, transactionTimeoutMs?: number): Db {
  const db = connect(url, transactionTimeoutMs);
  opened.push(db);
  return db;
}

interface Parsed {
  /** Option values by name: strings, or true for flags. */
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

function parse(command: string, args: string[], options: ParseArgsConfig["options"]): Parsed {
  try {
    return parseArgs({ args, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true }) as Parsed;
  } catch (error) {
    throw new UsageError(`${command}: ${(error as Error).message}`);
  }
}

/** A string option's value. */
const text = (values: Parsed["values"], name: string) => (typeof values[name] === "string" ? (values[name] as string) : undefined);

function integer(option: string, raw: string | undefined, bounds: { min: number; max: number }): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < bounds.min || Number(raw) > bounds.max) {
    throw new UsageError(`${option}: must be a whole number from ${bounds.min} to ${bounds.max}; got "${raw.slice(0, 32)}"`);
  }
  return Number(raw);
}

function sequence(option: string, raw: string | undefined): bigint | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d{1,19}$/.test(raw) || BigInt(raw) < 1n || BigInt(raw) > 2n ** 63n - 1n) throw new UsageError(`${option}: must be a sequence number, 1 or more; got "${raw.slice(0, 32)}"`);
  return BigInt(raw);
}

function noPositionals(command: string, positionals: string[]): void {
  if (positionals.length > 0) throw new UsageError(`${command}: unexpected argument "${positionals[0]!.slice(0, 64)}"`);
}

const readKey = (option: string, file: string) =>
  readFile(file, "utf8").catch((error: Error) => {
    throw new UsageError(`${option} ${file}: ${error.message}`);
  });

async function run(argv: string[]): Promise<ExitCode> {
  const [command, ...args] = argv;
  if (command === undefined) {
    warn(OVERVIEW);
    return EXIT.USAGE;
  }
  if (command === "--help" || command === "-h" || command === "help") {
    print(args[0] && COMMAND_HELP[args[0]] ? COMMAND_HELP[args[0]]! : OVERVIEW);
    return EXIT.OK;
  }
  if (!(command in COMMAND_HELP)) throw new UsageError(`unknown command "${command.slice(0, 64)}"`);
  const helped = (values: Parsed["values"]) => {
    if (values.help) print(COMMAND_HELP[command]!);
    return values.help === true;
  };

  switch (command) {
    case "migrate": {
      const { values, positionals } = parse(command, args, {});
      if (helped(values)) return EXIT.OK;
      const [action, ...extra] = positionals;
      noPositionals(command, extra);
      if (action === "deploy") {
        for (const line of await deploy()) print(line);
        return EXIT.OK;
      }
      if (action === "status") {
        const names = await pending();
        print(describePending(names));
        return names.length ? EXIT.INCONSISTENT : EXIT.OK;
      }
      throw new UsageError(`migrate: expected deploy or status${action ? `, got "${action.slice(0, 64)}"` : ""}`);
    }
    case "verify-audit": {
      const { values, positionals } = parse(command, args, {
        from: { type: "string" },
        to: { type: "string" },
        checkpoint: { type: "string" },
        "public-key": { type: "string" },
      });
      if (helped(values)) return EXIT.OK;
      noPositionals(command, positionals);
      if (text(values, "public-key") && !text(values, "checkpoint")) throw new UsageError("verify-audit: --public-key needs --checkpoint");
      const publicKeyFile = text(values, "public-key");
      const publicKey = publicKeyFile ? publicKeyFrom(await readKey("--public-key", publicKeyFile), "--public-key") : undefined;
      const from = sequence("--from", text(values, "from"));
      const to = sequence("--to", text(values, "to"));
      const db = open(readOnly(readUrl()));
      return verifyAudit(db, {
        from,
        to,
        checkpointFile: text(values, "checkpoint"),
        publicKey,
        print,
        progress: new Progress("verify-audit", { unit: "links" }),
      });
    }
    case "reconcile": {
      const { values, positionals } = parse(command, args, {
        "batch-size": { type: "string" },
        "entries-batch-size": { type: "string" },
        "timeout-ms": { type: "string" },
        json: { type: "boolean" },
      });
      if (helped(values)) return EXIT.OK;
      noPositionals(command, positionals);
      const batchSize = integer("--batch-size", text(values, "batch-size"), BATCH_SIZE) ?? BATCH_SIZE.default;
      const entriesBatchSize = integer("--entries-batch-size", text(values, "entries-batch-size"), ENTRIES_BATCH_SIZE) ?? ENTRIES_BATCH_SIZE.default;
      const timeoutMs = integer("--timeout-ms", text(values, "timeout-ms"), TIMEOUT_MS) ?? TIMEOUT_MS.default;
      const json = values.json === true;
      const db = open(readOnly(readUrl()), timeoutMs);
      const summary = await reconcile(db, {
        batchSize,
        entriesBatchSize,
        timeoutMs,
        progress: new Progress("reconcile", { unit: "accounts" }),
        report: (d) =>
          print(
            json
              ? JSON.stringify({ kind: d.kind, account_id: d.accountId, currency: d.currency, stored: d.stored, expected: d.expected, message: d.message })
              : d.message,
          ),
      });
      const counts = { accounts: summary.accounts.toString(), entries: summary.entries.toString(), currencies: summary.currencies, differences: summary.differences };
      print(
        json
          ? JSON.stringify({ summary: counts })
          : `reconcile: ${counts.accounts} accounts, ${counts.entries} entries, ${counts.currencies} currencies: ` +
              (summary.differences === 0 ? "consistent" : `${summary.differences} difference${summary.differences === 1 ? "" : "s"}`),
      );
      return summary.differences === 0 ? EXIT.OK : EXIT.INCONSISTENT;
    }
    case "export-checkpoint": {
      const { values, positionals } = parse(command, args, { out: { type: "string" }, key: { type: "string" } });
      if (helped(values)) return EXIT.OK;
      noPositionals(command, positionals);
      const keyFile = text(values, "key");
      const key = keyFile ? privateKeyFrom(await readKey("--key", keyFile), "--key") : undefined;
      const db = open(readOnly(readUrl()));
      const head = await new AuditLog(createAuditStore(db)).checkpoint();
      const document = `${JSON.stringify(checkpointDocument(head, new Date(), key), null, 2)}\n`;
      const out = text(values, "out");
      if (!out) {
        process.stdout.write(document);
        return EXIT.OK;
      }
      const temporary = path.join(path.dirname(out), `.${path.basename(out)}.${process.pid}.tmp`);
      await writeFile(temporary, document, { flag: "wx" });
      await rename(temporary, out);
      warn(`checkpoint of sequence ${head.seq} written to ${out}`);
      return EXIT.OK;
    }
    case "create-currency": {
      const { values, positionals } = parse(command, args, { exponent: { type: "string" }, name: { type: "string" } });
      if (helped(values)) return EXIT.OK;
      const [code, ...extra] = positionals;
      noPositionals(command, extra);
      const currency = newCurrency(code, text(values, "exponent"), text(values, "name"));
      const db = open(ownerUrl());
      const accelerateUrl = /^prisma(\+postgres)?:\/\//i.test(process.env.DATABASE_URL ?? "") ? process.env.DATABASE_URL! : undefined;
      return createCurrency(db, currency, print, accelerateUrl ? open(accelerateUrl) : undefined);
    }
  }
  throw new UsageError(`unknown command "${command}"`);
}

/** One line saying why the command could not complete: the database's own words, never a URL or a stack. */
function whyNotCompleted(error: unknown): string {
  const facts = dbErrorFacts(error);
  const detail = facts?.message || (error instanceof Error ? error.message : String(error));
  // Prisma opens its messages with "Invalid `prisma.…()` invocation:"; what went wrong follows.
  const first = detail.split("\n").map((line) => line.trim()).find((line) => line !== "" && !/^Invalid `prisma\./.test(line)) ?? "unknown error";
  const code = facts?.sqlState ?? (error as { code?: unknown } | null)?.code;
  return `${isUnavailable(error) ? "cannot reach the database" : "could not complete"}: ${first}${typeof code === "string" ? ` (${code})` : ""}`;
}

async function main(): Promise<never> {
  let code: ExitCode;
  try {
    code = await run(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      warn(`ledger-of-record: ${error.message}\nRun ledger-of-record --help for usage.`);
      code = EXIT.USAGE;
    } else {
      warn(`ledger-of-record: ${whyNotCompleted(error)}`);
      code = EXIT.CANNOT_COMPLETE;
    }
  }
  await Promise.allSettled(opened.map((db) => db.$disconnect()));
  process.exit(code);
}

await main();
