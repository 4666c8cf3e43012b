/**
 * The operations of the model workload: how each is generated from the world
 * and the model, sent, altered (for the key-reuse probe) and applied to the
 * reference model once acknowledged.
 */
import type { CallOptions } from "@connectrpc/connect";
import type { LedgerClient, IdentityClient } from "../ledger.js";
import type { OpKind, ReferenceModel } from "./history.js";
import type { Rng } from "./rng.js";

/** One service instance the workload may send to. */
export interface Target {
  name: string;
  ledger: LedgerClient;
  identity: IdentityClient;
  /** False once the test has killed it: no further attempt goes there. */
  alive: boolean;
}

export interface WorldAccount {
  id: string;
  currency: string;
  userId: string;
}

/** The accounts and users the workload plays with, and each currency's issuance account. */
export interface World {
  currencies: string[];
  accounts: WorldAccount[];
  users: string[];
  issuance: Map<string, string>;
}

/** A generated operation: what to send, and how to tell the model about its reply. */
export interface Op {
  kind: OpKind;
  accounts: string[];
  users: string[];
  summary: string;
  /** Sends the request with `key` (the same on every attempt). */
  send(target: Target, key: string, options: CallOptions): Promise<unknown>;
  /** Sends the request with one field changed: must be refused as a reused key. */
  sendChanged(target: Target, key: string, options: CallOptions): Promise<unknown>;
  /** Applies an acknowledged reply to the model. */
  apply(model: ReferenceModel, reply: unknown): void;
}

type Reply = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const accountsIn = (world: World, currency: string) => world.accounts.filter((a) => a.currency === currency);

function pair(rng: Rng, world: World): [WorldAccount, WorldAccount] {
  const pool = accountsIn(world, rng.pick(world.currencies));
  const debit = rng.pick(pool);
  let credit = rng.pick(pool);
  while (credit.id === debit.id) credit = rng.pick(pool);
  return [debit, credit];
}

function transferOp(kind: "transfer" | "fund", debit: string, credit: string, amount: bigint): Op {
  return {
    kind,
    accounts: [debit, credit],
    users: [],
    summary: `${debit.slice(-6)}→${credit.slice(-6)} ${amount}`,
    send: (t, key, o) => t.ledger.transfer({ idempotencyKey: key, debitAccountId: debit, creditAccountId: credit, amount }, o),
    sendChanged: (t, key, o) => t.ledger.transfer({ idempotencyKey: key, debitAccountId: debit, creditAccountId: credit, amount: amount + 1n }, o),
    apply: (m, r) => m.recordTransfer((r as Reply).transfer, true),
  };
}

/** A funding transfer from the currency's issuance account (what setup and the `fund` operation send). */
export function fundOp(world: World, account: WorldAccount, amount: bigint): Op {
  return transferOp("fund", world.issuance.get(account.currency)!, account.id, amount);
}

/** The mix of operations; weights are relative. */
const MIX: readonly (readonly [number, OpKind])[] = [
  [34, "transfer"],
  [7, "fund"],
  [10, "batch"],
  [12, "holdCreate"],
  [9, "holdCapture"],
  [5, "holdVoid"],
  [8, "reverse"],
  [1.5, "freeze"],
  [6, "unfreeze"],
  [0.7, "suspend"],
  [4, "reactivate"],
];

/** Generates the next operation from the world and what the model knows so far. */
export function generateOp(rng: Rng, world: World, model: ReferenceModel): Op {
  let kind = rng.weighted(MIX);
  const holds = [...model.holds.values()].filter((h) => h.fate === "pending");
  if ((kind === "holdCapture" || kind === "holdVoid") && holds.length === 0) kind = "holdCreate";
  if (kind === "reverse" && model.reversible.length === 0) kind = "transfer";
  switch (kind) {
    case "transfer": {
      const [d, c] = pair(rng, world);
      return transferOp("transfer", d.id, c.id, BigInt(rng.int(1, 300)));
    }
    case "fund":
      return fundOp(world, rng.pick(world.accounts), BigInt(rng.int(50, 400)));
    case "batch": {
      const currency = rng.pick(world.currencies);
      const legs = Array.from({ length: rng.int(1, 4) }, () => {
        const pool = accountsIn(world, currency);
        const d = rng.pick(pool);
        let c = rng.pick(pool);
        while (c.id === d.id) c = rng.pick(pool);
        return { debitAccountId: d.id, creditAccountId: c.id, amount: BigInt(rng.int(1, 200)) };
      });
      const changed = legs.map((l, i) => (i === 0 ? { ...l, amount: l.amount + 1n } : l));
      return {
        kind,
        accounts: [...new Set(legs.flatMap((l) => [l.debitAccountId, l.creditAccountId]))],
        users: [],
        summary: legs.map((l) => `${l.debitAccountId.slice(-6)}→${l.creditAccountId.slice(-6)} ${l.amount}`).join(", "),
        send: (t, key, o) => t.ledger.transferBatch({ idempotencyKey: key, legs }, o),
        sendChanged: (t, key, o) => t.ledger.transferBatch({ idempotencyKey: key, legs: changed }, o),
        apply: (m, r) => {
          for (const tr of (r as Reply).transfers) m.recordTransfer(tr, true);
        },
      };
    }
    case "holdCreate": {
      const [d, c] = pair(rng, world);
      const amount = BigInt(rng.int(1, 200));
      const timeoutMs = BigInt(rng.int(200, 2000));
      const request = { debitAccountId: d.id, creditAccountId: c.id, amount, timeoutMs };
      return {
        kind,
        accounts: [d.id, c.id],
        users: [],
        summary: `${d.id.slice(-6)}→${c.id.slice(-6)} ${amount} for ${timeoutMs}ms`,
        send: (t, key, o) => t.ledger.createHold({ idempotencyKey: key, ...request }, o),
        sendChanged: (t, key, o) => t.ledger.createHold({ idempotencyKey: key, ...request, amount: amount + 1n }, o),
        apply: (m, r) => {
          const h = (r as Reply).hold;
          m.holds.set(h.id, { id: h.id, debit: h.debitAccountId, credit: h.creditAccountId, amount: h.amount, fate: "pending" });
        },
      };
    }
    case "holdCapture":
    case "holdVoid": {
      const hold = rng.pick(holds);
      const amount = kind === "holdCapture" && rng.chance(0.5) ? BigInt(rng.int(1, Number(hold.amount))) : 0n;
      const base = {
        kind,
        accounts: [hold.debit, hold.credit],
        users: [],
        summary: `hold ${hold.id.slice(-8)}${kind === "holdCapture" ? ` amount ${amount}` : ""}`,
      };
      if (kind === "holdVoid") {
        const other = rng.pick<{ id: string }>(holds.length > 1 ? holds.filter((h) => h.id !== hold.id) : [{ id: "00000000-0000-7000-8000-000000000000" }]);
        return {
          ...base,
          send: (t, key, o) => t.ledger.voidHold({ idempotencyKey: key, holdId: hold.id }, o),
          sendChanged: (t, key, o) => t.ledger.voidHold({ idempotencyKey: key, holdId: other.id }, o),
          apply: (m) => (m.holds.get(hold.id)!.fate = "voided"),
        };
      }
      return {
        ...base,
        send: (t, key, o) => t.ledger.captureHold({ idempotencyKey: key, holdId: hold.id, amount }, o),
        sendChanged: (t, key, o) => t.ledger.captureHold({ idempotencyKey: key, holdId: hold.id, amount: amount + 1n }, o),
        apply: (m, r) => {
          m.holds.get(hold.id)!.fate = "captured";
          m.recordTransfer((r as Reply).transfer, false);
        },
      };
    }
    case "reverse": {
      const original = model.transfers.get(rng.pick(model.reversible))!;
      const amount = rng.chance(0.5) ? 0n : BigInt(rng.int(1, Number(original.amount)));
      return {
        kind,
        accounts: [original.debitAccountId, original.creditAccountId],
        users: [],
        summary: `transfer ${original.id.slice(-8)} amount ${amount}`,
        send: (t, key, o) => t.ledger.reverseTransfer({ idempotencyKey: key, transferId: original.id, amount }, o),
        sendChanged: (t, key, o) => t.ledger.reverseTransfer({ idempotencyKey: key, transferId: original.id, amount, memo: "changed" }, o),
        apply: (m, r) => m.recordTransfer((r as Reply).reversal, false),
      };
    }
    case "freeze":
    case "unfreeze": {
      const account = rng.pick(world.accounts);
      const method = kind === "freeze" ? "freezeAccount" : "unfreezeAccount";
      return {
        kind,
        accounts: [account.id],
        users: [],
        summary: account.id.slice(-6),
        send: (t, key, o) => t.ledger[method]({ idempotencyKey: key, accountId: account.id, reason: "model" }, o),
        sendChanged: (t, key, o) => t.ledger[method]({ idempotencyKey: key, accountId: account.id, reason: "changed" }, o),
        apply: () => undefined,
      };
    }
    case "suspend":
    case "reactivate": {
      const user = rng.pick(world.users);
      const owned = world.accounts.filter((a) => a.userId === user).map((a) => a.id);
      const method = kind === "suspend" ? "suspendUser" : "reactivateUser";
      return {
        kind,
        accounts: owned,
        users: [user],
        summary: `user ${user.slice(-8)}`,
        send: (t, key, o) => t.identity[method]({ idempotencyKey: key, userId: user, reason: "model" }, o),
        sendChanged: (t, key, o) => t.identity[method]({ idempotencyKey: key, userId: user, reason: "changed" }, o),
        apply: () => undefined,
      };
    }
    default:
      throw new Error(`no generator for ${kind}`);
  }
}
