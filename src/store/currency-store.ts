import type { Currency, CurrencyStore } from "../domain/ledger/currency.js";
import type { Db } from "../lib/prisma.js";
import type { CachePolicy } from "./cache-policy.js";

const CURRENCY_FIELDS = { code: true, scale: true, name: true } as const;

/** Currencies change only by migration, so every read of them may be cached. */
export function createCurrencyStore(db: Db, cache: CachePolicy): CurrencyStore {
  return {
    listCurrencies: () => db.currency.findMany({ select: CURRENCY_FIELDS, orderBy: { code: "asc" }, ...cache.currencies() }),
    findCurrency: (code: string): Promise<Currency | null> =>
      db.currency.findUnique({ select: CURRENCY_FIELDS, where: { code }, ...cache.currencies() }),
  };
}
