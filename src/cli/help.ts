/** The CLI's help texts: one overview, one per command. */

export const EXIT_CODES_HELP = `exit codes:
  0  done; nothing inconsistent
  1  done; an inconsistency was found (the output names it), or migrations are pending
  2  usage error: unknown command or option, bad value, missing DATABASE_URL (nothing was attempted)
  3  could not complete: database unreachable or refusing, missing privilege, timeout (nothing is known)`;

export const OVERVIEW = `usage: ledger-of-record <command> [options]        (npm run cli -- <command>; npx ledger-of-record <command>)

commands:
  migrate deploy|status          apply pending migrations / list them (exit 1 when some are pending)
  verify-audit                   recompute the audit hash chain; report the first broken sequence
  reconcile                      recompute every balance from its entries and holds; report every difference
  export-checkpoint              the audit chain's head as a digested (optionally signed) JSON document
  create-currency CODE           add a currency and its system accounts (idempotent)

Run ledger-of-record <command> --help for its options.

environment:
  DATABASE_URL            postgres:// URL of the ledger (reads; read-only sessions, SELECT suffices).
                          An Accelerate URL is not used: set DIRECT_DATABASE_URL then.
  MIGRATION_DATABASE_URL  the tables' owner, for migrate and create-currency (else DIRECT_DATABASE_URL, else DATABASE_URL)
  CLI_PROGRESS_INTERVAL_MS  least time between progress lines when stderr is not a terminal (default 10000)
  migrate alone falls back to the embedded PostgreSQL of npm start (.data/postgres) when no URL is set.

${EXIT_CODES_HELP}`;

export const COMMAND_HELP: Record<string, string> = {
  migrate: `usage: ledger-of-record migrate deploy|status

  deploy   apply every pending migration, then grant the service's role (the login of DATABASE_URL) ledger_runtime
  status   list pending migrations; exit 1 when there are any

Connects as the tables' owner: MIGRATION_DATABASE_URL, else DIRECT_DATABASE_URL, else DATABASE_URL,
else the embedded PostgreSQL of npm start (started for the command, then stopped).`,

  "verify-audit": `usage: ledger-of-record verify-audit [--from N] [--to N] [--checkpoint FILE [--public-key PEM]]

Recomputes hash_n = SHA-256(hash_{n-1} || canonical_json(event_n)) over the sealed audit events
(docs/AUDIT_CHAIN.md) with the service's own verifier, and reports the first broken sequence.

  --from N            first sequence (default 1; a later start is anchored on the stored hash before it)
  --to N              last sequence (default: the head when the run starts)
  --checkpoint FILE   also check a file from export-checkpoint: intact (digest), and its sequence still has its hash
  --public-key PEM    with --checkpoint: its signature must verify with this key (PEM public key or certificate)

Exit 1 names the sequence (or the checkpoint's problem).`,

  reconcile: `usage: ledger-of-record reconcile [--batch-size N] [--entries-batch-size N] [--timeout-ms N] [--json]

Recomputes, in one read-only snapshot, every account's posted balance from its entries, its
pending debits and credits from its pending holds, checks its entries' versions run 1, 2, 3, …
up to its version and that each balance_after follows from the one before, and that per currency
balances and entries sum to zero and pending debits equal pending credits. Every difference is
printed with its account id (and currency); exit 1 if there is any.

  --batch-size N          accounts per page, and pending-hold sums per fetch: 1 to 5000 (default 500)
  --entries-batch-size N  entries read per statement: 1 to 100000 (default 10000)
  --timeout-ms N          bound on the whole run, its snapshot held open meanwhile (default 3600000 = 1 h)
  --json                  one JSON object per line: each difference, then {"summary": …}`,

  "export-checkpoint": `usage: ledger-of-record export-checkpoint [--out FILE] [--key PEM]

Writes the audit chain's head (sequence, hash, sealed_at, unsealed_count, exported_at) as JSON with a
SHA-256 digest of its canonical form, signed with --key when given. Keep it elsewhere: verify-audit
--checkpoint FILE later proves the log still holds it. Format: README "Operator CLI".

  --out FILE   write to FILE (atomically) instead of stdout
  --key PEM    sign with this private key (Ed25519 recommended; EC and RSA sign SHA-256)`,

  "create-currency": `usage: ledger-of-record create-currency CODE --exponent N [--name NAME]

Adds currency CODE and its four system accounts (issuance, treasury, fees, external_settlement),
as the migrations add the seeded ones, with an audit event (ledger.currency.create). Idempotent:
again with the same exponent it does nothing and exits 0; with another exponent it changes nothing
and exits 1. Connects as the tables' owner (MIGRATION_DATABASE_URL, else DIRECT_DATABASE_URL, else
DATABASE_URL); with DATABASE_URL on Accelerate, the cached currency lists are invalidated.

  CODE          3 to 12 of A-Z and 0-9, starting with a letter (e.g. GBP)
  --exponent N  decimal places of one minor unit, 0 to 18 (GBP 2, JPY 0)
  --name NAME   display name, 1 to 64 characters (default CODE)`,
};
