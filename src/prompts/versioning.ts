// The versioning rules: the next semver follows the change to the variable contract. Pure functions.
import { createHash } from "node:crypto";
import semver from "semver";
import type { Bump, Template, VariableSpec } from "@promptreg/client/contract";
import { TemplateError, analyzeTemplate } from "@promptreg/client/render";
import { AppError } from "../http/errors.js";
import { schemaNarrowings } from "./schema-compat.js";

const FIRST_VERSION = "1.0.0";
const RANK: Record<Bump, number> = { patch: 0, minor: 1, major: 2 };

export interface Contract {
  template: Template;
  config: unknown;
  variablesSchema: Record<string, unknown> | null;
  /** Derived from the template and the schema (`analyzeTemplate`, `contractOf`). */
  variables: VariableSpec[];
}

export interface RequiredBump {
  bump: Bump;
  /** Why, in plain words: the strongest reasons first. */
  reasons: string[];
}

/**
 * A stored version's contract as it is enforced today. The renderer derives the contract from the template and
 * schema with today's rules, so the comparison does too: a contract stored by an older release may list types that
 * were only guessed. A template today's rules refuse keeps the contract stored with it.
 */
export function contractOf(version: Contract): Contract {
  let variables = version.variables;
  try {
    variables = analyzeTemplate(version.template, version.variablesSchema);
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
  }
  return { template: version.template, config: version.config, variablesSchema: version.variablesSchema, variables };
}

/**
 * major: the next version may refuse a call the previous one rendered: a required variable or path added, a variable
 * became required or a placeholder, a variable removed (`strictExtras` refuses it now), the schema refuses a value
 * it accepted;
 * minor: it accepts more (an optional variable added, a variable or path no longer required, a looser schema), or
 * the config changed;
 * patch: the same calls render (the template's wording, a schema rewritten to accept the same values).
 */
export function requiredBump(prev: Contract, next: Contract): RequiredBump {
  const major: string[] = [];
  const minor: string[] = [];
  const patch: string[] = [];
  const before = new Map(prev.variables.map((v) => [v.name, v]));
  const after = new Map(next.variables.map((v) => [v.name, v]));
  for (const v of next.variables) {
    const old = before.get(v.name);
    if (!old) {
      (v.required ? major : minor).push(`${v.required ? "required" : "optional"} variable '${v.name}' added`);
      continue;
    }
    if (v.required && !old.required) major.push(`variable '${v.name}' became required`);
    if (!v.required && old.required) minor.push(`variable '${v.name}' became optional`);
    const [oldPaths, paths] = [new Set(old.paths ?? []), new Set(v.paths ?? [])];
    for (const path of paths) if (!oldPaths.has(path)) major.push(`required path '${path}' added`);
    for (const path of oldPaths) if (!paths.has(path)) minor.push(`path '${path}' no longer required`);
    // Only a placeholder proves a type from the template; the schema's types are compared with the schema.
    if (v.type === "messages" && old.type !== "messages")
      major.push(`variable '${v.name}' became a placeholder (a list of messages)`);
    if (old.type === "messages" && v.type !== "messages") minor.push(`variable '${v.name}' is no longer a placeholder`);
  }
  for (const v of prev.variables) {
    if (!after.has(v.name)) major.push(`${v.required ? "required" : "optional"} variable '${v.name}' removed`);
  }
  if (canonicalJson(prev.variablesSchema) !== canonicalJson(next.variablesSchema)) {
    const narrowings = schemaNarrowings(prev.variablesSchema, next.variablesSchema);
    if (narrowings.length > 0) major.push(...narrowings.map((reason) => `variablesSchema: ${reason}`));
    else if (schemaNarrowings(next.variablesSchema, prev.variablesSchema).length > 0) {
      minor.push(
        next.variablesSchema
          ? "variablesSchema changed: it accepts everything it did, and more"
          : "variablesSchema removed",
      );
    } else patch.push("variablesSchema changed: it accepts the same values");
  }
  if (canonicalJson(prev.config ?? {}) !== canonicalJson(next.config ?? {})) minor.push("config changed");
  if (canonicalJson(prev.template) !== canonicalJson(next.template)) patch.push("template text changed");
  const reasons = [...major, ...minor, ...patch];
  return { bump: major.length > 0 ? "major" : minor.length > 0 ? "minor" : "patch", reasons };
}

/** Picks the version to publish, or refuses (409) an explicit bump or version smaller than the change needs. */
export function pickVersion(
  highest: string | null,
  required: RequiredBump,
  request: { bump?: Bump; version?: string },
): string {
  if (request.version !== undefined) {
    const v = semver.valid(request.version);
    if (!v || semver.prerelease(v) || v.includes("+"))
      throw new AppError("validation_error", `version '${request.version}' is not a MAJOR.MINOR.PATCH semver`, {
        issues: [{ path: "body.version", message: "must be MAJOR.MINOR.PATCH" }],
      });
    if (highest === null) return v;
    if (!semver.gt(v, highest))
      throw new AppError(
        "version_not_higher",
        `version ${v} must be higher than every existing version; the highest is ${highest}`,
      );
    const given = semver.diff(highest, v) as Bump;
    if (RANK[given] < RANK[required.bump])
      throw bumpTooSmall(`version ${v} is a ${given} bump from ${highest}`, required);
    return v;
  }
  if (highest === null) return FIRST_VERSION;
  const bump = request.bump ?? required.bump;
  if (RANK[bump] < RANK[required.bump]) throw bumpTooSmall(`a ${bump} bump was asked for`, required);
  return semver.inc(highest, bump)!;
}

function bumpTooSmall(what: string, required: RequiredBump): AppError {
  return new AppError(
    "bump_too_small",
    `${what}, but this change needs a ${required.bump} bump: ${required.reasons.join("; ")}`,
    {
      requiredBump: required.bump,
      reasons: required.reasons,
    },
  );
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

export function contentHash(content: {
  type: string;
  template: unknown;
  config: unknown;
  variablesSchema: unknown;
}): string {
  const canonical = canonicalJson({
    type: content.type,
    template: content.template,
    config: content.config ?? {},
    variablesSchema: content.variablesSchema ?? null,
  });
  return createHash("sha256").update(canonical).digest("hex");
}
