/**
 * The sealer's statements. Seals are appended in (xid, id) order: the
 * writing transaction's id, then the event id. The sealer only chains events
 * of transactions that have finished, so none can still appear below what it
 * sealed, and each pass reads on from just after the last sealed event, by
 * index: its cost follows the events it seals, not the size of the log (nor
 * the size of one transaction's events).
 */

/** The last seal and the (xid, id) of its event: where the next pass starts. */
const LAST_SEAL = `
  SELECT s.seq, s.hash, e.xid, e.id FROM audit_seals s JOIN audit_events e ON e.id = s.event_id ORDER BY s.seq DESC LIMIT 1`;

/**
 * Unsealed events: those after the last sealed one in (xid, id) order, below
 * `upper` (an xid8 expression). Seals are appended in that order, so every
 * event up to the last seal is sealed: the index is entered right after it,
 * however many events its transaction wrote, and no event needs a look-up
 * in audit_seals (an anti-join there was planned as a scan of audit_seals
 * per event while the table looked empty). The range on xid is for the
 * planner: a generic plan cannot see the bounds' values and estimates a
 * one-sided bound at a third of the table (a scan), a range at a fraction
 * of a percent (the index).
 */
const UNSEALED_FROM_LAST = (upper: string) => `
  (e.xid, e.id) > (coalesce((SELECT xid FROM last), '0'::xid8), coalesce((SELECT id FROM last), 0))
  AND e.xid >= coalesce((SELECT xid FROM last), '0'::xid8) AND e.xid < ${upper}`;

/** Above every xid this statement can see (so always true): only bounds the range for the planner. */
const VISIBLE_XIDS_END = "pg_snapshot_xmax(pg_current_snapshot())";

/**
 * Is anything waiting? One cheap query per sealer tick, outside any
 * transaction. (ORDER BY … LIMIT 1 keeps PostgreSQL on the (xid, id) index.)
 */
export const UNSEALED_PROBE_SQL = `
  WITH last AS (${LAST_SEAL})
  SELECT (SELECT e.id FROM audit_events e WHERE ${UNSEALED_FROM_LAST(VISIBLE_XIDS_END)} ORDER BY e.xid, e.id LIMIT 1) IS NOT NULL AS waiting`;

/**
 * Below which xid every transaction that could write events to this
 * database has finished: the oldest transaction that was running when this
 * statement's snapshot was taken and is still running in this database, or
 * the snapshot's next xid when there is none. Transactions of other
 * databases on the cluster do not hold the sealer back. Read in its own
 * statement, before the events are read in a later one (a later snapshot):
 * a transaction that finished in between is then visible.
 */
export const SEALABLE_BELOW_SQL = `
  SELECT coalesce(
      (SELECT min(x) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
        WHERE xid(x) IN (SELECT a.backend_xid FROM pg_stat_activity a
                         WHERE a.datname = current_database() AND a.backend_xid IS NOT NULL AND a.pid <> pg_backend_pid())),
      pg_snapshot_xmax(pg_current_snapshot())
    )::text AS below
  FROM (SELECT pg_advisory_xact_lock($1::bigint)) AS one_sealer`;

/** The next events to seal, in chain order, with the chain's head. $1: the xid bound (text), $2: the most to seal. */
export const SEALABLE_EVENTS_SQL = `
  WITH last AS (${LAST_SEAL})
  SELECT e.id, e.occurred_at, e.actor, e.on_behalf_of, e.action, e.resource_type, e.resource_id, e.request_id, e.idempotency_key, e.payload,
         (SELECT seq FROM last) AS last_seq, (SELECT hash FROM last) AS last_hash
  FROM audit_events e WHERE ${UNSEALED_FROM_LAST("$1::xid8")}
  ORDER BY e.xid, e.id LIMIT $2`;

/** How many events wait for a seal, and the oldest one's time (Checkpoint). */
export const UNSEALED_STATS_SQL = `
  WITH last AS (${LAST_SEAL})
  SELECT count(*) AS count, min(e.occurred_at) AS oldest FROM audit_events e WHERE ${UNSEALED_FROM_LAST(VISIBLE_XIDS_END)}`;

/** One statement for a batch of seals; hex text arrays keep the parameters cheap to encode. */
export const INSERT_SEALS_SQL = `
  INSERT INTO audit_seals (seq, event_id, prev_hash, hash, sealed_at)
  SELECT s, e, decode(p, 'hex'), decode(h, 'hex'), now()
  FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS t(s, e, p, h)`;
