import type { z } from "zod";
import { AppError } from "./errors.js";

/** Parses request input with a zod schema; a failure is a 422 naming every offending field. */
export function parse<S extends z.ZodType>(
  schema: S,
  input: unknown,
  where: "body" | "query" | "params" = "body",
): z.infer<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({
    path: [where, ...i.path.map(String)].join("."),
    message: i.message,
  }));
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join("; ");
  throw new AppError("validation_error", `invalid request ${where}: ${summary}`, { issues });
}
