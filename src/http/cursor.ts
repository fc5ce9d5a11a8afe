// Opaque pagination cursors: a position as text, base64url-encoded so that clients treat it as a token.
import { AppError } from "./errors.js";

export const encodeCursor = (position: string): string => Buffer.from(position).toString("base64url");

/** Reads a cursor back with `read`, which returns null for text that is not a position; a bad cursor is a 422. */
export function decodeCursor<T>(cursor: string, read: (position: string) => T | null): T {
  const value = read(Buffer.from(cursor, "base64url").toString());
  if (value === null) throw new AppError("validation_error", "invalid cursor", { issues: [{ path: "query.cursor", message: "invalid cursor" }] });
  return value;
}
