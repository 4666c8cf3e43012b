import type { Currency, CurrencyStore } from "../domain/ledger/currency.js";
import type { Db } from "../lib/prisma.js";

const CURRENCY_FIELDS = { code: true, scale: true, name: true } as const;

export function createCurrencyStore(db: Db): CurrencyStore {
  return {
    listCurrencies: () => db.currency.findMany({ select: CURRENCY_FIELDS, orderBy: { code: "asc" } }),
    findCurrency: (code: string): Promise<Currency | null> =>
      db.currency.findUnique({ select: CURRENCY_FIELDS, where: { code } }),
  };
}
