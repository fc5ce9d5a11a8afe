// Opaque pagination cursors: a position as text, base64url-encoded so that clients treat it as a token.
import { AppError } from "./errors.js";
import { unstorableText } from "./input-guard.js";

export const encodeCursor = (position: string): string => Buffer.from(position).toString("base64url");

/**
 * Reads a cursor back with `read`, which returns null for text that is not a position; a bad cursor is a 422. Only
 * what `encodeCursor` could have written is read: bytes that are not UTF-8 do not encode back to the same token,
 * and text the database cannot compare (a NUL) never reaches a query.
 */
export function decodeCursor<T>(cursor: string, read: (position: string) => T | null): T {
  const position = Buffer.from(cursor, "base64url").toString();
  const value = encodeCursor(position) === cursor && unstorableText(position) === null ? read(position) : null;
  if (value === null)
    throw new AppError("validation_error", "invalid cursor", {
      issues: [{ path: "query.cursor", message: "invalid cursor" }],
    });
  return value;
}
