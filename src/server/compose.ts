/**
 * Composition: the domain over its stores, the RPC services over the domain,
 * and the background jobs. No transport and no lifecycle here (app.ts).
 */
import type { Logger } from "pino";
import { AuditLog } from "../domain/audit/audit-log.js";
import { Identity } from "../domain/identity/identity.js";
import { CurrencyService } from "../domain/ledger/currency.js";
import { Holds } from "../domain/ledger/holds.js";
import { Ledger } from "../domain/ledger/ledger.js";
import { NO_OBSERVER, type Observer } from "../domain/observer.js";
import type { Config } from "../lib/config.js";
import type { Db } from "../lib/prisma.js";
import { AuditService, auditServiceImpl } from "../rpc/audit-service.js";
import { IdentityService, identityServiceImpl } from "../rpc/identity-service.js";
import { implement, type ImplementedService } from "../rpc/implement.js";
import { LedgerService, ledgerServiceImpl } from "../rpc/ledger-service.js";
import { createAuditStore } from "../store/audit-store.js";
import { CachePolicy } from "../store/cache-policy.js";
import { createCurrencyStore } from "../store/currency-store.js";
import { infrastructureErrorOf } from "../store/db-errors.js";
import { createIdentityStore } from "../store/identity-store.js";
import { createLedgerStore } from "../store/ledger-store.js";
import { DEFAULT_RETRY_POLICY, type CommitListener } from "../store/transaction.js";
import type { Job, Jobs } from "./jobs.js";

export const EXPIRE_JOB = "expire-holds";
export const SEAL_JOB = "seal-audit-events";
const PURGE_JOB = "purge-idempotency-keys";

export interface Domain {
  currencies: CurrencyService;
  ledger: Ledger;
  holds: Holds;
  identity: Identity;
  audit: AuditLog;
}

export function buildCachePolicy(db: Db, config: Config, logger: Logger): CachePolicy {
  return new CachePolicy(db, {
    active: config.databaseMode === "accelerate",
    lifetimes: config.cacheLifetimes,
    settleHorizonMs: config.settleHorizonMs,
    invalidateTimeoutMs: config.cacheInvalidateTimeoutMs,
    logger,
  });
}

export function buildDomain(
  db: Db,
  config: Config,
  logger: Logger,
  cache: CachePolicy = buildCachePolicy(db, config, logger),
  onCommit?: CommitListener,
  /** Told what metrics count (retries, transfer groups). Default: nobody. */
  observer: Observer = NO_OBSERVER,
): Domain {
  const retry = { ...DEFAULT_RETRY_POLICY, maxAttempts: config.dbMaxAttempts };
  const ledgerStore = createLedgerStore(db, { cache, retry, logger, onCommit, observer });
  const currencies = new CurrencyService(createCurrencyStore(db, cache));
  return {
    currencies,
    ledger: new Ledger(ledgerStore, currencies, {
      maxSize: config.transferGroupMax,
      maxConcurrent: config.transferGroupConcurrency,
      maxQueued: config.transferQueueMax,
      observer,
    }),
    holds: new Holds(ledgerStore, currencies),
    identity: new Identity(createIdentityStore(db, { cache, retry, logger, onCommit, observer }), config.defaultWalletCurrency),
    audit: new AuditLog(createAuditStore(db, { retry, logger, onCommit, observer })),
  };
}

export function buildServices(domain: Domain, logger: Logger): ImplementedService[] {
  const options = { classify: infrastructureErrorOf };
  return [
    implement(LedgerService, ledgerServiceImpl(domain), logger, options),
    implement(IdentityService, identityServiceImpl(domain.identity), logger, options),
    implement(AuditService, auditServiceImpl(domain.audit), logger, options),
  ];
}

/** Committed writes wake the jobs they give work to, so idle jobs can back off. */
export function wakeJobsOnCommit(jobs: () => Jobs | undefined): CommitListener {
  return (facts) => {
    if (facts.auditEvents > 0) jobs()?.wake(SEAL_JOB);
    if (facts.earliestHoldExpiry) jobs()?.wake(EXPIRE_JOB, facts.earliestHoldExpiry);
  };
}

/** The background upkeep: hold expiry, audit sealing, idempotency-key purge. */
export function backgroundJobs(domain: Domain, config: Config): Job[] {
  return [
    {
      name: EXPIRE_JOB,
      intervalMs: config.holdExpiryIntervalMs,
      idleIntervalMs: config.holdExpiryIdleIntervalMs,
      batch: config.holdExpiryBatch,
      run: async () => {
        const { expired, nextDueAt } = await domain.holds.expireHolds(config.holdExpiryBatch);
        return { done: expired, nextDueAt };
      },
    },
    {
      name: SEAL_JOB,
      intervalMs: config.auditSealIntervalMs,
      idleIntervalMs: config.auditSealIdleIntervalMs,
      batch: config.auditSealBatch,
      run: () => domain.audit.seal(config.auditSealBatch),
    },
    {
      name: PURGE_JOB,
      intervalMs: 60_000,
      batch: 1000,
      run: () => domain.ledger.purgeIdempotencyKeys(config.idempotencyKeyRetentionHours * 3_600_000, 1000),
    },
  ];
}
