/** Sets up the model's world through the service: users, their accounts in each currency, funded from issuance. */
import { SystemAccount } from "../../../src/gen/aevon/ledger/v1/ledger_pb.js";
import type { TestDatabase } from "../db.js";
import { fundOp, type Op, type Target, type World, type WorldAccount } from "./ops.js";
import type { Workload } from "./workload.js";

export interface WorldOptions {
  users: number;
  currencies: string[];
  /** Minted into each account at the start. */
  funding: bigint;
}

type Reply = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const noChange = () => Promise.reject(new Error("not probed"));

export async function setupWorld(workload: Workload, target: Target, options: WorldOptions): Promise<World> {
  const issuance = new Map<string, string>();
  for (const currency of options.currencies) {
    const res = await target.ledger.listAccounts({ owner: { owner: { case: "system", value: SystemAccount.ISSUANCE } }, currency });
    issuance.set(currency, res.accounts[0]!.id);
  }
  const world: World = { currencies: options.currencies, accounts: [], users: [], issuance };
  for (let u = 0; u < options.users; u++) {
    const handle = `m${Math.random().toString(36).slice(2, 12)}${u}`;
    const createUser: Op = {
      kind: "createUser",
      accounts: [],
      users: [],
      summary: handle,
      send: (t, key, o) => t.identity.createUser({ idempotencyKey: key, handle }, o),
      sendChanged: noChange,
      apply: () => undefined,
    };
    const userId = ((await workload.must<Reply>(createUser)).user as Reply).id as string;
    world.users.push(userId);
    for (const currency of options.currencies) {
      // Every fourth account may go 100 below zero; the rest never below zero.
      const policy = u % 4 === 3 ? { allowNegative: true, overdraftLimit: 100n } : undefined;
      const createAccount: Op = {
        kind: "createAccount",
        accounts: [],
        users: [userId],
        summary: `${currency} for ${userId.slice(-8)}${policy ? " overdraft 100" : ""}`,
        send: (t, key, o) => t.ledger.createAccount({ idempotencyKey: key, owner: { owner: { case: "userId", value: userId } }, currency, policy }, o),
        sendChanged: noChange,
        apply: () => undefined,
      };
      const account = (await workload.must<Reply>(createAccount)).account as Reply;
      const wa: WorldAccount = { id: account.id, currency, userId };
      world.accounts.push(wa);
      await workload.must(fundOp(world, wa, options.funding));
    }
  }
  return world;
}

/** Posted balances of `ids` now (to predict from). */
export async function postedOf(db: TestDatabase, ids: string[]): Promise<Map<string, bigint>> {
  const { rows } = await db.sql<{ id: string; posted: string }>("SELECT id, posted::text FROM accounts WHERE id = ANY($1::uuid[])", [ids]);
  return new Map(rows.map((r) => [r.id, BigInt(r.posted)]));
}
