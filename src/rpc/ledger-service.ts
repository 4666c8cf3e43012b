/** aevon.ledger.v1.LedgerService: protobuf in, domain calls, protobuf out. No Prisma here. */
import type { ServiceImpl } from "@connectrpc/connect";
import { consistencyFromProto } from "./consistency.js";
import type { CurrencyService } from "../domain/ledger/currency.js";
import type { Holds } from "../domain/ledger/holds.js";
import type { Ledger } from "../domain/ledger/ledger.js";
import type { Leg } from "../domain/ledger/posting.js";
import type { Account, Hold, Transfer } from "../domain/ledger/types.js";
import {
  CaptureHoldRequestSchema,
  CaptureHoldResponseSchema,
  CloseAccountRequestSchema,
  CloseAccountResponseSchema,
  CreateAccountRequestSchema,
  CreateAccountResponseSchema,
  CreateHoldRequestSchema,
  CreateHoldResponseSchema,
  FreezeAccountRequestSchema,
  FreezeAccountResponseSchema,
  LedgerService,
  ReverseTransferRequestSchema,
  ReverseTransferResponseSchema,
  TransferBatchRequestSchema,
  TransferBatchResponseSchema,
  TransferRequestSchema,
  TransferResponseSchema,
  UnfreezeAccountRequestSchema,
  UnfreezeAccountResponseSchema,
  VoidHoldRequestSchema,
  VoidHoldResponseSchema,
} from "../gen/aevon/ledger/v1/ledger_pb.js";
import { idempotentCall } from "./idempotency.js";
import {
  accountToProto,
  balancesToProto,
  entryToProto,
  holdToProto,
  ownerFromProto,
  statusFromProto,
  transferToProto,
} from "./ledger-mapping.js";
import { ceilDate, floorDate } from "./time.js";
import { unreachable } from "./validation.js";

/** The money-moving fields every transfer, leg and hold request shares. */
function legOf(req: { debitAccountId: string; creditAccountId: string; amount: bigint; currency: string; memo: string }): Leg {
  return { debitAccountId: req.debitAccountId, creditAccountId: req.creditAccountId, amount: req.amount, currency: req.currency, memo: req.memo };
}

export interface LedgerDeps {
  currencies: CurrencyService;
  ledger: Ledger;
  holds: Holds;
}

export function ledgerServiceImpl({ currencies, ledger, holds }: LedgerDeps): ServiceImpl<typeof LedgerService> {
  return {
    async listCurrencies() {
      return { currencies: await currencies.listCurrencies() };
    },
    async getCurrency(req) {
      return { currency: await currencies.getCurrency(req.code) };
    },

    async createAccount(req, ctx) {
      const call = idempotentCall(ctx, "ledger.CreateAccount", CreateAccountRequestSchema, req, CreateAccountResponseSchema, (a: Account) => ({
        account: accountToProto(a),
      }));
      const policy = req.policy && { allowNegative: req.policy.allowNegative, overdraftLimit: req.policy.overdraftLimit };
      return call.reply(
        await ledger.createAccount(
          { owner: ownerFromProto("owner", req.owner), currency: req.currency, policy, label: req.label, isDefault: req.isDefault },
          call.idem,
        ),
      );
    },
    async getAccount(req) {
      return { account: accountToProto(await ledger.getAccount(req.accountId, consistencyFromProto(req.consistency))) };
    },
    async listAccounts(req) {
      const page = await ledger.listAccounts(
        { owner: ownerFromProto("owner", req.owner), currency: req.currency || undefined, status: statusFromProto(req.status) },
        req.pageSize,
        req.pageToken,
      );
      return { accounts: page.items.map(accountToProto), nextPageToken: page.next };
    },
    async freezeAccount(req, ctx) {
      const call = idempotentCall(ctx, "ledger.FreezeAccount", FreezeAccountRequestSchema, req, FreezeAccountResponseSchema, (a: Account) => ({ account: accountToProto(a) }));
      return call.reply(await ledger.freezeAccount(req.accountId, req.reason, call.idem));
    },
    async unfreezeAccount(req, ctx) {
      const call = idempotentCall(ctx, "ledger.UnfreezeAccount", UnfreezeAccountRequestSchema, req, UnfreezeAccountResponseSchema, (a: Account) => ({
        account: accountToProto(a),
      }));
      return call.reply(await ledger.unfreezeAccount(req.accountId, req.reason, call.idem));
    },
    async closeAccount(req, ctx) {
      const call = idempotentCall(ctx, "ledger.CloseAccount", CloseAccountRequestSchema, req, CloseAccountResponseSchema, (a: Account) => ({ account: accountToProto(a) }));
      return call.reply(await ledger.closeAccount(req.accountId, req.reason, call.idem));
    },

    async getBalance(req) {
      const asOf =
        req.asOf.case === "asOfTime"
          ? { time: floorDate(req.asOf.value)! }
          : req.asOf.case === "asOfPosition"
            ? { position: req.asOf.value }
            : undefined;
      const balances = await ledger.getBalance(req.accountId, asOf, consistencyFromProto(req.consistency));
      return { accountId: balances.accountId, currency: balances.currency, balance: balancesToProto(balances), position: balances.position };
    },

    async transfer(req, ctx) {
      const call = idempotentCall(ctx, "ledger.Transfer", TransferRequestSchema, req, TransferResponseSchema, (t: Transfer) => ({ transfer: transferToProto(t) }));
      return call.reply(await ledger.transfer({ idempotencyKey: req.idempotencyKey, ...legOf(req) }, call.idem));
    },
    async transferBatch(req, ctx) {
      const call = idempotentCall(ctx, "ledger.TransferBatch", TransferBatchRequestSchema, req, TransferBatchResponseSchema, (b: { batchId: string; transfers: Transfer[] }) => ({
        batchId: b.batchId,
        transfers: b.transfers.map(transferToProto),
      }));
      return call.reply(await ledger.transferBatch(req.idempotencyKey, req.legs.map(legOf), call.idem));
    },
    async reverseTransfer(req, ctx) {
      const call = idempotentCall(ctx, "ledger.ReverseTransfer", ReverseTransferRequestSchema, req, ReverseTransferResponseSchema, (r: { reversal: Transfer; original: Transfer }) => ({
        reversal: transferToProto(r.reversal),
        original: transferToProto(r.original),
      }));
      return call.reply(await ledger.reverseTransfer(req.transferId, req.amount, req.memo, call.idem));
    },

    async createHold(req, ctx) {
      const call = idempotentCall(ctx, "ledger.CreateHold", CreateHoldRequestSchema, req, CreateHoldResponseSchema, (h: Hold) => ({ hold: holdToProto(h) }));
      return call.reply(await holds.createHold({ idempotencyKey: req.idempotencyKey, timeoutMs: req.timeoutMs, ...legOf(req) }, call.idem));
    },
    async captureHold(req, ctx) {
      const call = idempotentCall(ctx, "ledger.CaptureHold", CaptureHoldRequestSchema, req, CaptureHoldResponseSchema, (c: { hold: Hold; transfer: Transfer }) => ({
        hold: holdToProto(c.hold),
        transfer: transferToProto(c.transfer),
      }));
      return call.reply(await holds.captureHold(req.holdId, req.amount, call.idem));
    },
    async voidHold(req, ctx) {
      const call = idempotentCall(ctx, "ledger.VoidHold", VoidHoldRequestSchema, req, VoidHoldResponseSchema, (h: Hold) => ({ hold: holdToProto(h) }));
      return call.reply(await holds.voidHold(req.holdId, call.idem));
    },
    async getHold(req) {
      return { hold: holdToProto(await holds.getHold(req.holdId)) };
    },

    async getTransfer(req) {
      if (req.lookup.case === undefined) return unreachable("lookup: required");
      const by = req.lookup.case === "transferId" ? { id: req.lookup.value } : { idempotencyKey: req.lookup.value };
      return { transfer: transferToProto(await ledger.getTransfer(by, consistencyFromProto(req.consistency))) };
    },
    async listTransfers(req) {
      const page = await ledger.listTransfers(req.accountId, { start: ceilDate(req.startTime), end: ceilDate(req.endTime) }, req.pageSize, req.pageToken);
      return { transfers: page.items.map(transferToProto), nextPageToken: page.next };
    },
    async listEntries(req) {
      const page = await ledger.listEntries(req.accountId, { start: ceilDate(req.startTime), end: ceilDate(req.endTime) }, req.pageSize, req.pageToken);
      return { entries: page.items.map(entryToProto), nextPageToken: page.next };
    },
  };
}

export { LedgerService };
