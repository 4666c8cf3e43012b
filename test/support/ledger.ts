/** Helpers for ledger tests: a typed gRPC client, account set-up, and the books-balance check. */
import { randomUUID } from "node:crypto";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import { IdentityService } from "../../src/gen/aevon/identity/v1/identity_pb.js";
import { AccountStatus, LedgerService, SystemAccount, type Account } from "../../src/gen/aevon/ledger/v1/ledger_pb.js";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { startCompiledTestServer, type TestCompiledServer } from "./compiled-server.js";
import type { TestDatabase } from "./db.js";
import { startTestServer, type DatabasePath, type TestServer } from "./server.js";

export type LedgerClient = Client<typeof LedgerService>;
export type IdentityClient = Client<typeof IdentityService>;

const identityOf = new WeakMap<LedgerClient, IdentityClient>();

/** A connect-es client speaking the gRPC protocol over HTTP/2 to the grpc-js port. */
export function ledgerClient(server: { grpcAddress: string }): LedgerClient {
  const transport = createGrpcTransport({ baseUrl: `http://${server.grpcAddress}` });
  const ledger = createClient(LedgerService, transport);
  identityOf.set(ledger, createClient(IdentityService, transport));
  return ledger;
}

/** The identity client on the same server as `ledger`. */
export function identityClient(ledger: LedgerClient): IdentityClient {
  return identityOf.get(ledger)!;
}

/** Registers a user (with its default wallet) and returns its id. */
export async function newUserId(ledger: LedgerClient): Promise<string> {
  const res = await identityClient(ledger).createUser({ idempotencyKey: key("user"), handle: `u${randomUUID().replaceAll("-", "").slice(0, 20)}` });
  return res.user!.id;
}

/**
 * Registers the hooks of a ledger test file: one server on its own database,
 * a client, and the books-balance check after every test. Returns a holder
 * whose fields are set once `beforeAll` has run.
 */
export function useLedgerServer(env: Record<string, string> = {}, path?: DatabasePath): { server: TestServer; client: LedgerClient } {
  const context = {} as { server: TestServer; client: LedgerClient };
  beforeAll(async () => {
    context.server = await startTestServer(env, undefined, path);
    context.client = ledgerClient(context.server);
  });
  afterAll(async () => {
    await context.server?.close();
  });
  afterEach(async () => {
    await expectBooksBalance(context.server.database);
  });
  return context;
}

/**
 * One client over `connections` HTTP/2 connections, calls handed out in
 * turn: against a cluster (WORKERS > 1), whose workers each take whole
 * connections, this spreads the calls over the workers.
 */
export function spreadLedgerClient(server: { grpcAddress: string }, connections: number): LedgerClient {
  const clients = Array.from({ length: connections }, () => ledgerClient(server));
  let next = 0;
  const pick = () => clients[next++ % clients.length]!;
  const spread = <C extends object>(of: (c: LedgerClient) => C): C =>
    Object.fromEntries(
      Object.keys(of(clients[0]!)).map((method) => [method, (...args: unknown[]) => (of(pick()) as Record<string, (...a: unknown[]) => unknown>)[method]!(...args)]),
    ) as C;
  const ledger = spread((c) => c);
  identityOf.set(ledger, spread((c) => identityClient(c)));
  return ledger;
}

/**
 * `useLedgerServer`'s hooks around the compiled server in its own process
 * (`npm start`'s artifact, so WORKERS > 1 can be tested), reached over
 * `connections` connections.
 */
export function useCompiledLedgerServer(env: Record<string, string>, connections: number, path?: DatabasePath): { server: TestCompiledServer; client: LedgerClient } {
  const context = {} as { server: TestCompiledServer; client: LedgerClient };
  beforeAll(async () => {
    context.server = await startCompiledTestServer(env, path);
    context.client = spreadLedgerClient(context.server, connections);
  });
  afterAll(async () => {
    await context.server?.close();
  });
  afterEach(async () => {
    await expectBooksBalance(context.server.database);
  });
  return context;
}

export const key = (prefix = "k") => `${prefix}-${randomUUID()}`;

const issuanceIds = new Map<string, string>();

/** The id of the issuance system account of `currency` (where money is minted). */
export async function issuance(client: LedgerClient, currency = "USD"): Promise<string> {
  const cached = issuanceIds.get(currency);
  if (cached) return cached;
  const res = await client.listAccounts({ owner: { owner: { case: "system", value: SystemAccount.ISSUANCE } }, currency });
  const id = res.accounts[0]!.id;
  issuanceIds.set(currency, id);
  return id;
}

export async function userAccount(
  client: LedgerClient,
  options: { currency?: string; allowNegative?: boolean; overdraftLimit?: bigint; userId?: string } = {},
): Promise<Account> {
  const res = await client.createAccount({
    idempotencyKey: key("acct"),
    owner: { owner: { case: "userId", value: options.userId ?? (await newUserId(client)) } },
    currency: options.currency ?? "USD",
    ...(options.allowNegative !== undefined ? { policy: { allowNegative: options.allowNegative, overdraftLimit: options.overdraftLimit } } : {}),
  });
  expect(res.account?.status).toBe(AccountStatus.ACTIVE);
  return res.account!;
}

/** A user account holding `amount`, minted from issuance. */
export async function fundedAccount(client: LedgerClient, amount: bigint, currency = "USD"): Promise<Account> {
  const account = await userAccount(client, { currency });
  if (amount > 0n) {
    await client.transfer({ idempotencyKey: key("fund"), debitAccountId: await issuance(client, currency), creditAccountId: account.id, amount });
  }
  return account;
}

export async function balanceOf(client: LedgerClient, accountId: string) {
  const res = await client.getBalance({ accountId });
  return res.balance!;
}

/** Awaits a call expected to fail; returns its ConnectError. */
export async function rejection(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail, it succeeded");
}

/** Awaits concurrent calls; splits replies from failures (as ConnectErrors). */
export async function settle<T>(calls: Promise<T>[]) {
  const results = await Promise.allSettled(calls);
  return {
    ok: results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : [])),
    failed: results.flatMap((r) => (r.status === "rejected" ? [ConnectError.from(r.reason)] : [])),
  };
}

/** The stable machine-readable reason of a failure (google.rpc.ErrorInfo.reason). */
export function reasonOf(error: ConnectError): string | undefined {
  return error.findDetails(ErrorInfoSchema)[0]?.reason;
}

export async function expectFailure(call: Promise<unknown>, code: Code, reason?: string, field?: string): Promise<ConnectError> {
  const error = await rejection(call);
  expect({ code: Code[error.code], reason: reasonOf(error) }).toEqual({ code: Code[code], reason: reason ?? reasonOf(error) });
  if (field) expect(error.findDetails(ErrorInfoSchema)[0]?.metadata.field).toBe(field);
  // Never SQL, stack traces or internals.
  expect(error.rawMessage).not.toMatch(/\b(SELECT|INSERT|UPDATE|DELETE)\b|violates|constraint "|[Pp]risma|\.ts:\d/);
  return error;
}

/**
 * The ledger's invariants, checked in SQL against what is stored:
 * - per currency, all balances sum to zero (money only enters and leaves through system accounts);
 * - each account's posted balance is the sum of its entries, its version their count, versions dense;
 * - each transfer has exactly two entries summing to zero, matching its amount;
 * - pending amounts equal the pending holds.
 */
export async function expectBooksBalance(db: TestDatabase): Promise<void> {
  const sums = await db.sql<{ currency_code: string; total: string }>(
    "SELECT currency_code, sum(posted)::text AS total FROM accounts GROUP BY currency_code HAVING sum(posted) <> 0",
  );
  expect(sums.rows).toEqual([]);
  const replay = await db.sql(`
    SELECT a.id FROM accounts a
    LEFT JOIN (SELECT account_id, sum(amount) AS total, count(*) AS n, max(account_version) AS top FROM entries GROUP BY account_id) e
      ON e.account_id = a.id
    WHERE a.posted <> coalesce(e.total, 0) OR a.version <> coalesce(e.n, 0) OR a.version <> coalesce(e.top, 0)`);
  expect(replay.rows).toEqual([]);
  const lastBalance = await db.sql(`
    SELECT a.id FROM accounts a JOIN LATERAL (
      SELECT balance_after FROM entries WHERE account_id = a.id ORDER BY id DESC LIMIT 1) last ON true
    WHERE last.balance_after <> a.posted`);
  expect(lastBalance.rows).toEqual([]);
  const transfers = await db.sql(`
    SELECT t.id FROM transfers t JOIN entries e ON e.transfer_id = t.id
    GROUP BY t.id, t.amount, t.debit_account_id, t.credit_account_id
    HAVING count(*) <> 2 OR sum(e.amount) <> 0
        OR sum(e.amount) FILTER (WHERE e.account_id = t.credit_account_id) <> t.amount`);
  expect(transfers.rows).toEqual([]);
  const pending = await db.sql(`
    SELECT a.id FROM accounts a
    LEFT JOIN (SELECT debit_account_id AS id, sum(amount) AS s FROM holds WHERE status = 'PENDING' GROUP BY 1) d ON d.id = a.id
    LEFT JOIN (SELECT credit_account_id AS id, sum(amount) AS s FROM holds WHERE status = 'PENDING' GROUP BY 1) c ON c.id = a.id
    WHERE a.pending_debit <> coalesce(d.s, 0) OR a.pending_credit <> coalesce(c.s, 0)`);
  expect(pending.rows).toEqual([]);
}
