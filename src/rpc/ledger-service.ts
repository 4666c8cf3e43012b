/** aevon.ledger.v1.LedgerService: protobuf in, domain calls, protobuf out. No Prisma here. */
import type { ServiceImpl } from "@connectrpc/connect";
import type { CurrencyService } from "../domain/ledger/currency.js";
import { LedgerService } from "../gen/aevon/ledger/v1/ledger_pb.js";

export interface LedgerDeps {
  currencies: CurrencyService;
}

export function ledgerServiceImpl(deps: LedgerDeps): ServiceImpl<typeof LedgerService> {
  return {
    async listCurrencies() {
      return { currencies: await deps.currencies.listCurrencies() };
    },
    async getCurrency(req) {
      return { currency: await deps.currencies.getCurrency(req.code) };
    },
  };
}

export { LedgerService };
