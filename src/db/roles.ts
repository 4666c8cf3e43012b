/**
 * Least-privilege database roles. Migrations (run as the tables' owner)
 * create the group role `ledger_runtime` and grant it exactly the row
 * privileges the service needs (prisma/migrations/*_trust). Here: the
 * deploy-time step that makes the service's login role a member of it, and
 * the start-up check that the service does not run with more.
 */
import pg from "pg";

/** The group role every runtime login role is a member of. */
export const RUNTIME_ROLE = "ledger_runtime";

/** The user a postgres:// URL logs in as (undefined when it names none: libpq's default). */
export function loginRoleOf(url: string): string | undefined {
  const user = decodeURIComponent(new URL(url).username);
  return user === "" ? undefined : user;
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * Grants `ledger_runtime` to `runtimeRole`, connected as the owner
 * (`migrationUrl`). Idempotent. Returns why it could not, for the log (the
 * operator then runs the GRANT once by hand).
 */
export async function grantRuntimeRole(migrationUrl: string, runtimeRole: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: migrationUrl });
  client.on("error", () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query<{ exists: boolean; member: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS exists,
              EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2) AND pg_has_role($2, $1, 'MEMBER') AS member`,
      [RUNTIME_ROLE, runtimeRole],
    );
    if (!rows[0]!.exists) return `role ${RUNTIME_ROLE} does not exist (the migration could not create it)`;
    if (rows[0]!.member) return undefined;
    await client.query(`GRANT ${RUNTIME_ROLE} TO ${quoteIdent(runtimeRole)}`);
    return undefined;
  } catch (error) {
    return `GRANT ${RUNTIME_ROLE} TO ${quoteIdent(runtimeRole)} failed: ${(error as Error).message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** What the service's own connection may do beyond its needs; empty when it is least-privileged. */
export interface ExcessPrivileges {
  role: string;
  /** Reasons, e.g. "is a superuser", "owns the audit tables". */
  excess: string[];
}

/** The SQL the start-up check runs through the service's client (works through Accelerate too). */
export const PRIVILEGES_SQL = `
  SELECT current_user AS role,
         (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
         (SELECT bool_or(pg_has_role(current_user, tableowner, 'MEMBER')) FROM pg_tables
           WHERE schemaname = current_schema() AND tablename IN ('audit_events', 'audit_seals', 'entries', 'transfers')) AS owner,
         has_table_privilege(current_user, 'audit_events', 'UPDATE')
           OR has_table_privilege(current_user, 'audit_events', 'DELETE')
           OR has_table_privilege(current_user, 'audit_events', 'TRUNCATE') AS audit_writable`;

export function excessOf(row: { role: string; superuser: boolean | null; owner: boolean | null; audit_writable: boolean | null }): ExcessPrivileges {
  const excess: string[] = [];
  if (row.superuser) excess.push("is a superuser");
  if (row.owner) excess.push("owns the ledger and audit tables (it could disable their triggers or drop them)");
  if (row.audit_writable) excess.push("may UPDATE, DELETE or TRUNCATE audit_events");
  return { role: row.role, excess };
}
