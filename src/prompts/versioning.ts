// The versioning rules: the next semver follows the change to the variable contract. Pure functions.
import { createHash } from "node:crypto";
import semver from "semver";
import type { Bump, VariableSpec } from "@promptreg/client/contract";
import { AppError } from "../http/errors.js";

export const FIRST_VERSION = "1.0.0";
const RANK: Record<Bump, number> = { patch: 0, minor: 1, major: 2 };

export interface Contract {
  variables: VariableSpec[];
  config: unknown;
}

export interface RequiredBump {
  bump: Bump;
  /** Why, in plain words: the strongest reasons first. */
  reasons: string[];
}

/**
 * major: a required variable added or removed, or a variable's type changed;
 * minor: an optional variable added (or removed, or made optional), or the config changed;
 * patch: anything else (the template's text).
 */
export function requiredBump(prev: Contract, next: Contract): RequiredBump {
  const major: string[] = [];
  const minor: string[] = [];
  const before = new Map(prev.variables.map((v) => [v.name, v]));
  const after = new Map(next.variables.map((v) => [v.name, v]));
  for (const v of next.variables) {
    const old = before.get(v.name);
    if (!old) (v.required ? major : minor).push(`${v.required ? "required" : "optional"} variable '${v.name}' added`);
    else {
      if (v.required && !old.required) major.push(`variable '${v.name}' became required`);
      if (!v.required && old.required) minor.push(`variable '${v.name}' became optional`);
      if (v.type !== old.type) major.push(`variable '${v.name}' changed type from ${old.type ?? "untyped"} to ${v.type ?? "untyped"}`);
    }
  }
  for (const v of prev.variables) {
    if (!after.has(v.name)) (v.required ? major : minor).push(`${v.required ? "required" : "optional"} variable '${v.name}' removed`);
  }
  if (canonicalJson(prev.config ?? {}) !== canonicalJson(next.config ?? {})) minor.push("config changed");
  if (major.length) return { bump: "major", reasons: [...major, ...minor] };
  if (minor.length) return { bump: "minor", reasons: minor };
  return { bump: "patch", reasons: ["template text changed"] };
}

/** Picks the version to publish, or refuses (409) an explicit bump or version smaller than the change needs. */
export function pickVersion(highest: string | null, required: RequiredBump, request: { bump?: Bump; version?: string }): string {
  if (request.version !== undefined) {
    const v = semver.valid(request.version);
    if (!v || semver.prerelease(v) || v.includes("+"))
      throw new AppError("validation_error", `version '${request.version}' is not a MAJOR.MINOR.PATCH semver`, {
        issues: [{ path: "body.version", message: "must be MAJOR.MINOR.PATCH" }],
      });
    if (highest === null) return v;
    if (!semver.gt(v, highest))
      throw new AppError("version_not_higher", `version ${v} must be higher than every existing version; the highest is ${highest}`);
    const given = semver.diff(highest, v) as Bump;
    if (RANK[given] < RANK[required.bump]) throw bumpTooSmall(`version ${v} is a ${given} bump from ${highest}`, required);
    return v;
  }
  if (highest === null) return FIRST_VERSION;
  const bump = request.bump ?? required.bump;
  if (RANK[bump] < RANK[required.bump]) throw bumpTooSmall(`a ${bump} bump was asked for`, required);
  return semver.inc(highest, bump)!;
}

function bumpTooSmall(what: string, required: RequiredBump): AppError {
  return new AppError("bump_too_small", `${what}, but this change needs a ${required.bump} bump: ${required.reasons.join("; ")}`, {
    requiredBump: required.bump,
    reasons: required.reasons,
  });
}

/** JSON with object keys sorted, so equal content always serializes (and hashes) the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export function contentHash(content: { type: string; template: unknown; config: unknown; variablesSchema: unknown }): string {
  const canonical = canonicalJson({
    type: content.type,
    template: content.template,
    config: content.config ?? {},
    variablesSchema: content.variablesSchema ?? null,
  });
  return createHash("sha256").update(canonical).digest("hex");
}
