/**
 * `create-currency CODE --exponent N`: adds a currency the way the
 * migrations add the seeded ones (prisma/migrations/*_init and *_ledger): the
 * `currencies` row and its four system accounts (issuance, treasury, fees,
 * external_settlement) with the same derived ids, md5('system:<role>:<code>'),
 * in one transaction, with an audit event. Idempotent: run again with the
 * same exponent it changes nothing and succeeds; with another exponent it
 * changes nothing and reports the conflict (a currency's exponent never
 * changes: every stored amount is counted in it).
 *
 * Currencies are reference data only the tables' owner writes (the service's
 * role may only read them), so this connects as the owner (connect.ts).
 */
import { randomUUID } from "node:crypto";
import { userInfo } from "node:os";
import { CURRENCY_CODE_PATTERN } from "../domain/checks.js";
import type { Db } from "../lib/prisma.js";
import { cacheTag } from "../store/cache-policy.js";
import { EXIT, UsageError, type ExitCode } from "./exit-codes.js";

/** The CHECK on currencies.scale: an int64 of minor units must still hold at least one major unit. */
export const MAX_EXPONENT = 18;
/** currencies.name is VARCHAR(64). */
const MAX_NAME_LENGTH = 64;
/** Who the audit event names: this tool; `on_behalf_of` is the operating-system user that ran it. */
export const CLI_ACTOR = "ledger-of-record-cli";
export const CREATE_ACTION = "ledger.currency.create";
/** Bound on the Accelerate cache invalidation after the write (the write stands either way). */
const INVALIDATE_TIMEOUT_MS = 5_000;

export interface NewCurrency {
  code: string;
  exponent: number;
  name: string;
}

/** Checks the command line's values; a UsageError names the one at fault. */
export function newCurrency(code: string | undefined, exponent: string | undefined, name: string | undefined): NewCurrency {
  if (code === undefined) throw new UsageError("create-currency needs a CODE, e.g. create-currency GBP --exponent 2");
  if (!CURRENCY_CODE_PATTERN.test(code)) throw new UsageError(`CODE: must be 3 to 12 characters of A-Z and 0-9, starting with a letter; got "${code.slice(0, 32)}"`);
  if (exponent === undefined) throw new UsageError("--exponent is required: the decimal places of one minor unit (USD 2, AEV 8)");
  if (!/^\d{1,2}$/.test(exponent) || Number(exponent) > MAX_EXPONENT) throw new UsageError(`--exponent: must be a whole number from 0 to ${MAX_EXPONENT}; got "${exponent.slice(0, 32)}"`);
  const label = name ?? code;
  if (label.length === 0 || [...label].length > MAX_NAME_LENGTH || /\p{Cc}/u.test(label)) {
    throw new UsageError(`--name: must be 1 to ${MAX_NAME_LENGTH} characters without control characters`);
  }
  return { code, exponent: Number(exponent), name: label };
}

const INSERT_CURRENCY_SQL = `
  INSERT INTO currencies (code, scale, name) VALUES ($1::text, $2::smallint, $3::text)
  ON CONFLICT (code) DO NOTHING RETURNING code`;

/** Exactly the ledger migration's system accounts, for one currency; those already there are kept. */
const INSERT_SYSTEM_ACCOUNTS_SQL = `
  INSERT INTO accounts (id, owner_type, owner_id, currency_code, label, min_balance)
  SELECT md5('system:' || r.role || ':' || $1::text)::uuid, 'SYSTEM', r.role, $1::text, r.role, NULL
  FROM (VALUES ('issuance'), ('treasury'), ('fees'), ('external_settlement')) AS r(role)
  ON CONFLICT DO NOTHING
  RETURNING id::text AS id, owner_id AS role`;

function operatingSystemUser(): string | null {
  try {
    const name = userInfo().username;
    return /^[\x21-\x7e]{1,256}$/.test(name) ? name : null;
  } catch {
    return null;
  }
}

/**
 * Creates the currency (owner connection `db`); `accelerate`, when the
 * service reads through Accelerate, is told to forget its cached currency
 * lists. Returns EXIT.OK (created, or already there as asked) or
 * EXIT.INCONSISTENT (there with another exponent).
 */
export async function createCurrency(db: Db, currency: NewCurrency, print: (line: string) => void, accelerate?: Db): Promise<ExitCode> {
  const outcome = await db.$transaction(async (tx) => {
    const created = await tx.$queryRawUnsafe<{ code: string }[]>(INSERT_CURRENCY_SQL, currency.code, currency.exponent, currency.name);
    if (created.length === 0) {
      const [existing] = await tx.$queryRawUnsafe<{ scale: number }[]>("SELECT scale FROM currencies WHERE code = $1::text", currency.code);
      if (existing && Number(existing.scale) !== currency.exponent) return { kind: "conflict" as const, exponent: Number(existing.scale) };
    }
    const accounts = await tx.$queryRawUnsafe<{ id: string; role: string }[]>(INSERT_SYSTEM_ACCOUNTS_SQL, currency.code);
    if (created.length === 0 && accounts.length === 0) return { kind: "unchanged" as const };
    const [{ now }] = (await tx.$queryRawUnsafe<{ now: Date }[]>("SELECT now() AS now")) as [{ now: Date }];
    await tx.auditEvent.create({
      data: {
        occurredAt: now,
        actor: CLI_ACTOR,
        onBehalfOf: operatingSystemUser(),
        action: CREATE_ACTION,
        resourceType: "currency",
        resourceId: currency.code,
        requestId: randomUUID(),
        idempotencyKey: null,
        payload: {
          code: currency.code,
          scale: currency.exponent,
          name: currency.name,
          currency_created: created.length > 0,
          system_accounts: Object.fromEntries(accounts.map((a) => [a.role, a.id])),
        },
      },
    });
    return { kind: "created" as const, currencyCreated: created.length > 0, accounts };
  });

  if (outcome.kind === "conflict") {
    print(`currency ${currency.code} exists with exponent ${outcome.exponent}, not ${currency.exponent}: nothing changed (an exponent never changes)`);
    return EXIT.INCONSISTENT;
  }
  if (outcome.kind === "unchanged") {
    print(`currency ${currency.code} exists with exponent ${currency.exponent} and its system accounts: nothing to do`);
    return EXIT.OK;
  }
  print(
    `${outcome.currencyCreated ? "created" : "completed"} currency ${currency.code} (exponent ${currency.exponent}); ` +
      `system accounts: ${outcome.accounts.map((a) => `${a.role} ${a.id}`).join(", ")}`,
  );
  if (accelerate) await forgetCachedCurrencies(accelerate, print);
  return EXIT.OK;
}

/** The service caches currency lists on Accelerate for up to an hour; the new currency must not wait for that. */
async function forgetCachedCurrencies(accelerate: Db, print: (line: string) => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      accelerate.$accelerate.invalidate({ tags: [cacheTag.currencies()] }),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${INVALIDATE_TIMEOUT_MS} ms`)), INVALIDATE_TIMEOUT_MS);
      }),
    ]);
    print("forgot the cached currency lists (Accelerate)");
  } catch (error) {
    print(`warning: the cached currency lists could not be invalidated (${(error as Error).message}); they age out within CACHE_REFERENCE_TTL_SECONDS + _SWR_SECONDS`);
  } finally {
    clearTimeout(timer);
  }
}
