/**
 * One keyed mutation, start to end, the same for every use case: it is not
 * started for a caller who has gone; it runs in one store transaction that
 * claims the key first; and its outcome is final. A refusal decided in the
 * work is stored under the key in the same transaction (writing nothing
 * else); a refusal the database decided (a constraint, which aborts the
 * transaction) is stored by a second transaction, unless another attempt
 * with the key decided first. Either way, every later attempt replays it.
 */
import { throwIfGone } from "./call.js";
import { DomainError } from "./errors.js";
import { outcomeOf, type ClaimOutcome, type Completion, type Idempotency, type IdempotencyClaim, type Outcome } from "./idempotency.js";

/** What every transaction side offers a keyed mutation. */
export interface KeyedTx {
  /** Claims the key, or waits for a concurrent holder and reports the stored outcome. */
  claim(claim: IdempotencyClaim): Promise<ClaimOutcome>;
  /** Stores a refusal under the claimed key, writing nothing else. */
  refuse(completion: Completion): Promise<void>;
}

export interface KeyedStore<Tx> {
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
}

/** A refusal that is the key's final answer (a state the request met), as opposed to an unknown outcome. */
export function isFinalRefusal(error: unknown): error is DomainError {
  return error instanceof DomainError && error.finality === "final";
}

/**
 * Runs `attempt` (which claims the key, does the work and writes it) as one
 * keyed mutation. `attempt` refuses by throwing a DomainError.
 */
export async function runKeyed<Tx extends KeyedTx, R>(
  store: KeyedStore<Tx>,
  idem: Idempotency<R>,
  attempt: (tx: Tx) => Promise<Outcome<R>>,
): Promise<Outcome<R>> {
  throwIfGone(idem.context);
  try {
    return await store.transaction(async (tx) => {
      // Again inside: the transaction may have waited for a connection meanwhile.
      throwIfGone(idem.context);
      try {
        return await attempt(tx);
      } catch (error) {
        if (!isFinalRefusal(error)) throw error;
        return refuse(tx, idem, error);
      }
    });
  } catch (error) {
    if (!isFinalRefusal(error)) throw error;
    return store.transaction(async (tx) => {
      const claimed = await tx.claim(idem.claim);
      return claimed.kind === "new" ? refuse(tx, idem, error) : outcomeOf<R>(claimed, idem);
    });
  }
}

async function refuse<Tx extends KeyedTx, R>(tx: Tx, idem: Idempotency<R>, error: DomainError): Promise<Outcome<R>> {
  throwIfGone(idem.context);
  const refusal = idem.refuse(error);
  await tx.refuse({ claim: idem.claim, refusal });
  return { refusal };
}
