/**
 * The operator CLI's exit codes, for scripts (README "Operator CLI"):
 * 0 done and consistent; 1 done, and an inconsistency was found (the output
 * names it); 2 the command line or configuration is wrong (nothing was
 * attempted); 3 the command could not complete (database unreachable or
 * refusing, missing privileges, a timeout): nothing is known either way.
 */
export const EXIT = {
  OK: 0,
  INCONSISTENT: 1,
  USAGE: 2,
  CANNOT_COMPLETE: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A wrong command line or setting: the message says which option or variable, and the CLI exits 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
