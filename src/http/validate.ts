// Request input checked at the edge. Every validation error names where the offending value was in one style,
// `<where>.<path>`: `params.label`, `query.ref`, `body.template.0.role` (object keys and array indexes joined by dots).
import type { z } from "zod";
import { AppError } from "./errors.js";

/** Where in a request a value was: the route's parameters, the query string, or the JSON body. */
export type RequestPart = "body" | "query" | "params";

export interface Issue {
  path: string;
  message: string;
}

/** The path of an issue: `issuePath("body", ["template", 0, "role"])` is `body.template.0.role`. */
export function issuePath(where: RequestPart, path: readonly PropertyKey[] = []): string {
  return [where, ...path.map(String)].join(".");
}

/**
 * The 422 for `issues` found in one part of the request (`where`: also `path`, for the URL before routing); a 400
 * with `code` bad_request, for well-formed input that names what does not exist.
 */
export function invalidRequest(
  where: RequestPart | "path",
  issues: Issue[],
  code: "validation_error" | "bad_request" = "validation_error",
): AppError {
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join("; ");
  return new AppError(code, `invalid request ${where}: ${summary}`, { issues });
}

/** Parses request input with a zod schema; a failure is a 422 naming every offending field. */
export function parse<S extends z.ZodType>(schema: S, input: unknown, where: RequestPart = "body"): z.infer<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  throw invalidRequest(
    where,
    result.error.issues.map((i) => ({ path: issuePath(where, i.path), message: i.message })),
  );
}
