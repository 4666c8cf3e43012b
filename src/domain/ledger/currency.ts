import { notFound } from "../errors.js";

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

/** Answers whether a currency code exists (what a transfer's optional `currency` must name). */
export interface CurrencyLookup {
  exists(code: string): Promise<boolean>;
}

export class CurrencyService implements CurrencyLookup {
  /** Codes seen to exist: currencies are only ever added, so a known code stays known. */
  private readonly known = new Set<string>();

  constructor(private readonly store: CurrencyStore) {}

  async exists(code: string): Promise<boolean> {
    if (this.known.has(code)) return true;
    const found = (await this.store.findCurrency(code)) !== null;
    if (found) this.known.add(code);
    return found;
  }

  listCurrencies(): Promise<Currency[]> {
    return this.store.listCurrencies();
  }

  async getCurrency(code: string): Promise<Currency> {
    const currency = await this.store.findCurrency(code);
    if (currency === null) throw notFound("code", `currency ${code}`);
    return currency;
  }
}
