// References an application resolves at runtime: a label, an exact version, a semver range, or a label at a moment.
import semver from "semver";
import { LABEL_NAME_PATTERN, PRODUCTION_LABEL } from "@promptreg/client/contract";
import { AppError } from "../http/errors.js";

export type Ref =
  | { kind: "label"; label: string }
  | { kind: "version"; version: string }
  | { kind: "range"; range: string }
  | { kind: "labelAt"; label: string; at: Date };

export const DEFAULT_REF = PRODUCTION_LABEL;

/**
 * Labels may not look like versions or ranges (`1`, `1.4`, `x`, `v2`): that keeps every reference unambiguous.
 */
export function labelLooksLikeVersion(label: string): boolean {
  return semver.validRange(label) !== null;
}

/**
 * Reads a reference; refuses one of no known form with a 422 whose issue names `path`, where the reference was in
 * the request: the resolve route's `query.ref` by default; a caller with the reference elsewhere (a render's
 * `body.ref`, a diff's `query.from`) checks it first with its own path.
 */
export function parseRef(input: string, path = "query.ref"): Ref {
  const ref = input.trim();
  const at = ref.indexOf("@");
  if (at > 0) {
    const label = ref.slice(0, at);
    const when = ref.slice(at + 1);
    const date = new Date(when);
    if (!LABEL_NAME_PATTERN.test(label) || Number.isNaN(date.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(when))
      throw badRef(
        input,
        path,
        "a label at a moment is '<label>@<ISO 8601 time>', e.g. production@2026-11-01T12:00:00Z",
      );
    return { kind: "labelAt", label, at: date };
  }
  const exact = semver.valid(ref);
  if (exact) return { kind: "version", version: exact };
  if (LABEL_NAME_PATTERN.test(ref) && !labelLooksLikeVersion(ref)) return { kind: "label", label: ref };
  if (semver.validRange(ref)) return { kind: "range", range: ref };
  throw badRef(input, path, "expected a label, a version (1.4.2), a range (^1.4) or label@time");
}

function badRef(input: string, path: string, message: string): AppError {
  return new AppError("validation_error", `invalid reference '${input}': ${message}`, { issues: [{ path, message }] });
}
