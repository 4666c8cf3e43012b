import { invalidArgument, notFound } from "../errors.js";

/** A currency or in-OS token; amounts in it are integer minor units. */
export interface Currency {
  code: string;
  /** Decimal places of one minor unit (USD 2, AEV 8). */
  scale: number;
  name: string;
}

/** What the domain needs from storage to serve currencies. */
export interface CurrencyStore {
  listCurrencies(): Promise<Currency[]>;
  findCurrency(code: string): Promise<Currency | null>;
}

/** Currency codes: 3 to 12 of [A-Z0-9], starting with a letter. */
export const CURRENCY_CODE_PATTERN = /^[A-Z][A-Z0-9]{2,11}$/;

export function checkCurrencyCode(field: string, code: string): string {
  if (!CURRENCY_CODE_PATTERN.test(code)) {
    throw invalidArgument(field, "must be 3 to 12 characters of A-Z and 0-9, starting with a letter (e.g. USD)");
  }
  return code;
}

export class CurrencyService {
  constructor(private readonly store: CurrencyStore) {}

  listCurrencies(): Promise<Currency[]> {
    return this.store.listCurrencies();
  }

  async getCurrency(code: string): Promise<Currency> {
    const currency = await this.store.findCurrency(checkCurrencyCode("code", code));
    if (currency === null) throw notFound("code", `currency ${code}`);
    return currency;
  }
}
