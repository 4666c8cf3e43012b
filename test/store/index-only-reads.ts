/**
 * Reads whose cost could grow with history rather than with the page: a
 * balance as of a time, journal pages within a time range, audit events by
 * action or time only, accounts by currency only, users by creation time or
 * handle prefix. Each family is a handful of calls against the seeded ledger
 * (big-ledger.ts), chosen where a read proportional to history would be
 * expensive: the issuance account (10,000 entries), tens of thousands of
 * events in a range, a currency or an action with few rows among many, all
 * 10,000 seeded users in a creation range. Pages are followed by their
 * tokens, so the deep pages are measured too, and every page that should be
 * full is checked to be (an empty range would measure nothing).
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { expect } from "vitest";
import { AuditService } from "../../src/gen/aevon/audit/v1/audit_pb.js";
import { seededUuid, SEED } from "../support/big-ledger.js";
import { identityClient, ledgerClient, type IdentityClient, type LedgerClient } from "../support/ledger.js";
import type { TestServer } from "../support/server.js";

export interface ReadClients {
  ledger: LedgerClient;
  identity: IdentityClient;
  audit: Client<typeof AuditService>;
}

export function readClients(server: TestServer): ReadClients {
  const ledger = ledgerClient(server);
  return { ledger, identity: identityClient(ledger), audit: createClient(AuditService, createGrpcTransport({ baseUrl: `http://${server.grpcAddress}` })) };
}

/** What a family needs to know about the seed: when it ran (its rows' times are relative to it). */
export interface SeedClock {
  /** Date.now() just before seeding; the seed's now() is at most a few seconds later. */
  seededAtMs: number;
}

export interface ReadFamily {
  name: string;
  /** The page size of every call. */
  pageSize: number;
  /** Makes the calls; returns how many. */
  run(clients: ReadClients, clock: SeedClock): Promise<number>;
}

const DAY_MS = 24 * 3600_000;
/** The seeded issuance account: one mint entry per seeded user, every 500 ms. */
export const ISSUANCE_USD = seededUuid("system:issuance:USD");
/** The time of the seed's t-th transfer (and its entries) or its i-th audit event. */
const seededAt = (clock: SeedClock, n: number) => new Date(clock.seededAtMs - DAY_MS + n * 500);
const ts = timestampFromDate;

/** Follows `pages` pages of a listing by their tokens; checks that every page but the last one asked for is full. */
async function follow<T>(pages: number, pageSize: number, list: (pageToken: string) => Promise<{ items: T[]; next: string }>): Promise<number> {
  let token = "";
  let calls = 0;
  for (let i = 0; i < pages; i++) {
    const page = await list(token);
    calls += 1;
    expect(page.items.length, `page ${i + 1}`).toBe(pageSize);
    expect(page.next, `page ${i + 1} has a successor`).not.toBe("");
    token = page.next;
  }
  return calls;
}

export const READ_FAMILIES: ReadFamily[] = [
  {
    name: "GetBalance as of a time (issuance, 10,000 entries)",
    pageSize: 1,
    async run({ ledger }, clock) {
      let calls = 0;
      for (const t of [1_000, 3_000, 5_000, 7_000, 9_000]) {
        const reply = await ledger.getBalance({ accountId: ISSUANCE_USD, asOf: { case: "asOfTime", value: ts(seededAt(clock, t)) } });
        calls += 1;
        // Mints are 1,000,000 each, so the balance says how many preceded the time (the seed ran a little after seededAtMs).
        const mints = -reply.balance!.posted / SEED.mintAmount;
        expect(mints > BigInt(t - 100) && mints <= BigInt(t)).toBe(true);
      }
      return calls;
    },
  },
  {
    name: "ListEntries within a time range (issuance)",
    pageSize: 10,
    async run({ ledger }, clock) {
      const list = (range: { startTime?: ReturnType<typeof ts>; endTime?: ReturnType<typeof ts> }) => async (pageToken: string) => {
        const r = await ledger.listEntries({ accountId: ISSUANCE_USD, pageSize: 10, pageToken, ...range });
        return { items: r.entries, next: r.nextPageToken };
      };
      const start = ts(seededAt(clock, 2_000));
      const end = ts(seededAt(clock, 6_000));
      return (await follow(4, 10, list({ startTime: start, endTime: end }))) + (await follow(2, 10, list({ startTime: start }))) + (await follow(2, 10, list({ endTime: end })));
    },
  },
  {
    name: "ListTransfers within a time range (issuance)",
    pageSize: 10,
    async run({ ledger }, clock) {
      return follow(4, 10, async (pageToken) => {
        const r = await ledger.listTransfers({ accountId: ISSUANCE_USD, pageSize: 10, pageToken, startTime: ts(seededAt(clock, 3_000)), endTime: ts(seededAt(clock, 8_000)) });
        return { items: r.transfers, next: r.nextPageToken };
      });
    },
  },
  {
    name: "ListEvents by action only (a rare action after 100,000 others)",
    pageSize: 5,
    async run({ audit }) {
      // The workload appended ten aegis.login events after the seeded ledger.transfer ones.
      const calls = await follow(1, 5, async (pageToken) => {
        const r = await audit.listEvents({ action: "aegis.login", pageSize: 5, pageToken });
        return { items: r.events, next: r.nextPageToken };
      });
      const common = await follow(2, 5, async (pageToken) => {
        const r = await audit.listEvents({ action: "ledger.transfer", pageSize: 5, pageToken });
        return { items: r.events, next: r.nextPageToken };
      });
      return calls + common;
    },
  },
  {
    name: "ListEvents by time only (40,000 events in the range)",
    pageSize: 10,
    async run({ audit }, clock) {
      const list = (range: { startTime?: ReturnType<typeof ts>; endTime?: ReturnType<typeof ts> }) => async (pageToken: string) => {
        const r = await audit.listEvents({ pageSize: 10, pageToken, ...range });
        return { items: r.events, next: r.nextPageToken };
      };
      const start = ts(seededAt(clock, 20_000));
      const end = ts(seededAt(clock, 60_000));
      return (await follow(4, 10, list({ startTime: start, endTime: end }))) + (await follow(2, 10, list({ startTime: start }))) + (await follow(2, 10, list({ endTime: end })));
    },
  },
  {
    name: "ListAccounts by currency only (EUR: a few among 10,000 USD accounts)",
    pageSize: 10,
    async run({ ledger }) {
      // EUR: the seeded system accounts and the workload's five user accounts.
      const eur = await ledger.listAccounts({ currency: "EUR", pageSize: 10 });
      expect(eur.accounts.length).toBeGreaterThanOrEqual(8);
      expect(eur.accounts.every((a) => a.currency === "EUR")).toBe(true);
      const usd = await follow(3, 10, async (pageToken) => {
        const r = await ledger.listAccounts({ currency: "USD", pageSize: 10, pageToken });
        return { items: r.accounts, next: r.nextPageToken };
      });
      return 1 + usd;
    },
  },
  {
    name: "ListUsers by creation time (all 10,000 seeded users in the range)",
    pageSize: 10,
    async run({ identity }, clock) {
      return follow(4, 10, async (pageToken) => {
        const r = await identity.listUsers({
          createdAfter: ts(new Date(clock.seededAtMs - 3 * DAY_MS)),
          createdBefore: ts(new Date(clock.seededAtMs - DAY_MS)),
          pageSize: 10,
          pageToken,
        });
        return { items: r.users, next: r.nextPageToken };
      });
    },
  },
  {
    name: "ListUsers by a rare handle prefix",
    pageSize: 5,
    async run({ identity }) {
      // seed999 and seed9990…seed9999: eleven users, three pages. A prefix is
      // read through the handle index, so a call reads the prefix's users (not
      // the page's: pages are in id order, handles are not).
      let token = "";
      const seen: string[] = [];
      let calls = 0;
      do {
        const r = await identity.listUsers({ handlePrefix: "seed999", pageSize: 5, pageToken: token });
        calls += 1;
        seen.push(...r.users.map((u) => u.handle));
        token = r.nextPageToken;
      } while (token !== "" && calls < 10);
      expect(seen.sort()).toEqual(["seed999", ...Array.from({ length: 10 }, (_, i) => `seed999${i}`)].sort());
      return calls;
    },
  },
];
