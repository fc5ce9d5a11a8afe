// What a database error means for the caller, decided in one place by its SQLSTATE (the same codes from PGlite and
// from PostgreSQL's driver).

/**
 * - `data`: the statement's values were refused (class 22 data exception, 23 integrity constraint, 54 program limit
 *   such as an index entry too large). Sending the same data again fails the same way: never retryable.
 * - `transient`: the database could not serve the statement now (class 08 connection, 40 rollback such as a
 *   deadlock, 53 insufficient resources, 57 operator intervention, 58 system error, or no SQLSTATE at all: a socket
 *   or pool error). The same request may succeed later.
 * - `bug`: anything else (a syntax error, a missing table): ours to fix, and a retry would not help either.
 */
export type DbErrorKind = "data" | "transient" | "bug";

const DATA_CLASSES = new Set(["22", "23", "54"]);
const TRANSIENT_CLASSES = new Set(["08", "40", "53", "57", "58"]);

export function sqlstateOf(err: unknown): string | null {
  const e = err as { code?: unknown; syscall?: unknown } | null;
  // A socket error's code (EPIPE) can look like a SQLSTATE; it comes with the system call that failed.
  if (typeof e?.syscall === "string") return null;
  return typeof e?.code === "string" && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : null;
}

export function dbErrorKind(err: unknown): DbErrorKind {
  const state = sqlstateOf(err);
  if (state === null) return "transient";
  const cls = state.slice(0, 2);
  if (DATA_CLASSES.has(cls)) return "data";
  if (TRANSIENT_CLASSES.has(cls)) return "transient";
  return "bug";
}
