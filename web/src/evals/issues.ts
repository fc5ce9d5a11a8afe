// A 422 names each offending field by its place in the request (`body.config.pattern`, `body.definition.sampleRate`,
// `body.to`): here each issue finds the form field it belongs to, so its message is shown next to that field, and
// whatever names no field of the form is shown above the buttons.
import { ApiError } from "../api";

export interface Issue {
  path: string;
  message: string;
}

/** The issues of a validation error, or none for any other failure. */
export function issuesOf(err: unknown): Issue[] {
  if (!(err instanceof ApiError) || !err.details || typeof err.details !== "object") return [];
  const issues = (err.details as { issues?: unknown }).issues;
  if (!Array.isArray(issues)) return [];
  return issues.filter((i): i is Issue => typeof i?.path === "string" && typeof i?.message === "string");
}

/**
 * The field key of a request path: `body.` goes, and so does `definition.` (a preview sends the definition inside
 * its body, a save sends it as the body), so `body.definition.config.pattern` and `body.config.pattern` are both
 * `config.pattern`. A check of the whole config is reported at `config.(root)`: that is the config itself.
 */
export function fieldKey(path: string): string {
  return path
    .replace(/^body\./, "")
    .replace(/^definition\./, "")
    .replace(/\.\(root\)$/, "");
}

export interface FieldIssues {
  /** The messages of the field `key` (and of anything inside it: `config.values.2` is the values field's). */
  of(key: string): string[];
  /** Messages that belong to none of the form's fields. */
  unplaced: Issue[];
  any: boolean;
}

/** Files each issue under the longest of `fields` that is its key or contains it. */
export function placeIssues(issues: Issue[], fields: readonly string[]): FieldIssues {
  const placed = new Map<string, string[]>();
  const unplaced: Issue[] = [];
  for (const issue of issues) {
    const key = fieldKey(issue.path);
    const field = fields.filter((f) => key === f || key.startsWith(`${f}.`)).sort((a, b) => b.length - a.length)[0];
    if (field === undefined) unplaced.push(issue);
    else placed.set(field, [...(placed.get(field) ?? []), issue.message]);
  }
  return { of: (key) => placed.get(key) ?? [], unplaced, any: issues.length > 0 };
}

export const noIssues: FieldIssues = { of: () => [], unplaced: [], any: false };
