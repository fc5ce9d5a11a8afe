// Limits on a version's variables JSON Schema, checked before ajv compiles it, and on the work of validating the
// values of one render against it. Measured with ajv 8 here: compiling an `enum` of 50,000 values took 36 s and a
// 500-level schema overflowed the stack; `uniqueItems` over 20,000 objects took 23 s (it compares every pair unless the
// items have a scalar type); a chain of 22 `allOf` of two `$ref`s validates one value 4 million times; and a failing
// validation costs about 0.4 µs per (schema node, value) pair, with every error kept; compiling costs about 0.15 ms
// per node of the schema.
import type { ValidateFunction } from "ajv";
import { compilePattern, meterPatterns, PatternBudgetError, PatternError } from "./safe-regexp.js";
import type { LimitExceeded } from "./limits.js";

export const SCHEMA_LIMITS = Object.freeze({
  /** JSON values in the schema document, `enum` and `const` values included. */
  maxNodes: 500,
  /** Objects and arrays open inside each other in the schema document. */
  maxDepth: 32,
  /** Schema nodes once every `$ref` is replaced by what it points to. */
  maxExpandedNodes: 1_000,
  /** JSON values in the variables times the expanded schema nodes, per render. */
  maxValidationWork: 250_000,
  /** Validation errors reported; the rest are counted. */
  maxReportedErrors: 100,
});

// Keywords whose value is a schema, a list of schemas, or a map of names to schemas (JSON Schema draft-07, what ajv's
// default class implements).
const SCHEMA_VALUED = new Set([
  "additionalItems",
  "additionalProperties",
  "contains",
  "else",
  "if",
  "items",
  "not",
  "propertyNames",
  "then",
]);
const SCHEMA_LISTS = new Set(["allOf", "anyOf", "items", "oneOf"]);
const SCHEMA_MAPS = new Set(["dependencies", "patternProperties", "properties"]);
// Only reached through `$ref`: they cost nothing where they are written.
const DEFINITION_MAPS = new Set(["$defs", "definitions"]);

export type SchemaCheck = { problem: string; exceeded?: LimitExceeded[] } | { problem?: undefined; cost: number };

type Json = unknown;

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** JSON values in `value`, counting no further than `max + 1`, and how deep it nests, no further than `maxDepth + 1`. */
export function measureJson(value: Json, max: number, maxDepth = Infinity): { nodes: number; depth: number } {
  let nodes = 0;
  let depth = 0;
  const stack: [Json, number][] = [[value, 1]];
  while (stack.length > 0 && nodes <= max) {
    const [v, d] = stack.pop()!;
    nodes++;
    if (d > depth) depth = d;
    if (d > maxDepth || typeof v !== "object" || v === null) continue;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, d + 1]);
  }
  return { nodes, depth };
}

function subschemas(schema: Record<string, Json>, withDefinitions: boolean): Json[] {
  const out: Json[] = [];
  for (const [key, value] of Object.entries(schema)) {
    if (SCHEMA_VALUED.has(key) && (isObject(value) || typeof value === "boolean")) out.push(value);
    if (SCHEMA_LISTS.has(key) && Array.isArray(value)) out.push(...value);
    // `dependencies` also maps names to lists of property names, which are not schemas.
    if ((SCHEMA_MAPS.has(key) || (withDefinitions && DEFINITION_MAPS.has(key))) && isObject(value)) {
      out.push(...Object.values(value).filter((v) => isObject(v) || typeof v === "boolean"));
    }
  }
  return out;
}

function resolvePointer(root: Json, ref: string): Json | undefined {
  if (ref === "#") return root;
  let at: Json = root;
  for (const raw of ref.slice(2).split("/")) {
    let key: string;
    try {
      key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    } catch {
      // A malformed escape (`%E0%A4%A`) points nowhere.
      return undefined;
    }
    if (!isObject(at) && !Array.isArray(at)) return undefined;
    at = (at as Record<string, Json>)[key];
    if (at === undefined) return undefined;
  }
  return at;
}

/**
 * Checks a variables schema against the limits before anything compiles it, and every pattern in it (see
 * safe-regexp.ts). Returns the problem, or the schema's cost: its nodes with every `$ref` expanded.
 */
export function checkSchemaLimits(schema: Record<string, Json>): SchemaCheck {
  const { nodes, depth } = measureJson(schema, SCHEMA_LIMITS.maxNodes, SCHEMA_LIMITS.maxDepth);
  const exceeded: LimitExceeded[] = [];
  if (nodes > SCHEMA_LIMITS.maxNodes)
    exceeded.push({ limit: "schema nodes", max: SCHEMA_LIMITS.maxNodes, found: nodes });
  if (depth > SCHEMA_LIMITS.maxDepth)
    exceeded.push({ limit: "schema depth", max: SCHEMA_LIMITS.maxDepth, found: depth });
  if (exceeded.length > 0) return { problem: describe(exceeded), exceeded };

  // Every schema position, definitions included: patterns, `$id` and `$ref` are checked wherever they are written.
  const all: Record<string, Json>[] = [];
  const pending: Json[] = [schema];
  while (pending.length > 0) {
    const s = pending.pop();
    if (!isObject(s)) continue;
    all.push(s);
    pending.push(...subschemas(s, true));
  }
  for (const s of all) {
    if (s !== schema && (s.$id !== undefined || s.id !== undefined))
      return { problem: "$id is only supported at the root of variablesSchema" };
    if (s.$ref !== undefined && (typeof s.$ref !== "string" || !(s.$ref === "#" || s.$ref.startsWith("#/")))) {
      return {
        problem: `$ref ${JSON.stringify(s.$ref)} is not supported: only references inside variablesSchema ("#" or "#/…") are`,
      };
    }
    if (s.uniqueItems === true && !hasScalarItems(s)) {
      return {
        problem:
          'uniqueItems needs "items" with a scalar "type" (string, number, integer, boolean or null): comparing objects or arrays ' +
          "for uniqueness takes time quadratic in the array's length",
      };
    }
    const patterns = [
      ...(typeof s.pattern === "string" ? [s.pattern] : []),
      ...(isObject(s.patternProperties) ? Object.keys(s.patternProperties) : []),
    ];
    for (const pattern of patterns) {
      try {
        compilePattern(pattern);
      } catch (err) {
        if (err instanceof PatternError) return { problem: err.message };
        throw err;
      }
    }
  }

  // Expanded size, each schema computed once; a `$ref` back to a schema being expanded is a cycle.
  const cost = new Map<Json, number>();
  const expanding = new Set<Json>();
  const cap = SCHEMA_LIMITS.maxExpandedNodes + 1;
  let cycle: string | undefined;
  function expanded(s: Json): number {
    if (!isObject(s)) return 1;
    const known = cost.get(s);
    if (known !== undefined) return known;
    if (expanding.has(s)) return cap;
    expanding.add(s);
    // The schema's own values (enum, const, required...) and its subschemas where they apply.
    let total = measureJson(withoutSubschemas(s), cap).nodes;
    for (const sub of subschemas(s, false)) total = Math.min(cap, total + expanded(sub));
    if (typeof s.$ref === "string") {
      const target = resolvePointer(schema, s.$ref);
      if (expanding.has(target)) cycle ??= s.$ref;
      if (target !== undefined) total = Math.min(cap, total + expanded(target));
    }
    expanding.delete(s);
    cost.set(s, total);
    return total;
  }
  const total = expanded(schema);
  if (cycle !== undefined)
    return {
      problem: `$ref ${JSON.stringify(cycle)} is recursive; recursive schemas are not supported in variablesSchema`,
    };
  if (total > SCHEMA_LIMITS.maxExpandedNodes) {
    const over = [{ limit: "schema nodes with $ref expanded", max: SCHEMA_LIMITS.maxExpandedNodes, found: total }];
    return { problem: describe(over), exceeded: over };
  }
  return { cost: total };
}

function withoutSubschemas(s: Record<string, Json>): Record<string, Json> {
  return Object.fromEntries(
    Object.entries(s).filter(
      ([key]) =>
        !SCHEMA_VALUED.has(key) && !SCHEMA_LISTS.has(key) && !SCHEMA_MAPS.has(key) && !DEFINITION_MAPS.has(key),
    ),
  );
}

const SCALAR_TYPES = new Set(["string", "number", "integer", "boolean", "null"]);

// ajv checks uniqueness in linear time exactly when it knows the items are scalars from `items.type`.
function hasScalarItems(s: Record<string, Json>): boolean {
  const items = s.items;
  if (!isObject(items)) return false;
  const types = Array.isArray(items.type) ? items.type : [items.type];
  return types.length > 0 && types.every((t) => typeof t === "string" && SCALAR_TYPES.has(t));
}

function describe(exceeded: LimitExceeded[]): string {
  return `variablesSchema exceeds ${exceeded.length === 1 ? "a limit" : "limits"}: ${exceeded.map((e) => `${e.limit} ${e.found} (limit ${e.max})`).join("; ")}`;
}

/**
 * `validate`, bounded: values too many for the schema's cost are refused before ajv runs, and pattern matches stop
 * at their budget; either way the call throws what `exceeded` makes.
 */
export function boundValidate(
  validate: ValidateFunction,
  cost: number,
  exceeded: (message: string, limit: LimitExceeded) => Error,
): ValidateFunction {
  const maxValues = Math.max(1, Math.floor(SCHEMA_LIMITS.maxValidationWork / cost));
  const bounded = ((values: unknown) => {
    const { nodes } = measureJson(values, maxValues);
    if (nodes > maxValues) {
      throw exceeded(
        `the variables hold more than ${maxValues} values: checking them against this schema (${cost} nodes) would exceed ` +
          `${SCHEMA_LIMITS.maxValidationWork} checks`,
        { limit: "variable values × schema nodes", max: SCHEMA_LIMITS.maxValidationWork, found: nodes * cost },
      );
    }
    try {
      const valid = meterPatterns(() => validate(values));
      const errors = validate.errors ?? null;
      bounded.errors =
        errors && errors.length > SCHEMA_LIMITS.maxReportedErrors
          ? [
              ...errors.slice(0, SCHEMA_LIMITS.maxReportedErrors),
              summaryError(`and ${errors.length - SCHEMA_LIMITS.maxReportedErrors} more errors`),
            ]
          : errors;
      return valid;
    } catch (err) {
      if (!(err instanceof PatternBudgetError)) throw err;
      throw exceeded(`pattern checks need more than ${err.maxSteps} steps (characters checked × pattern size)`, {
        limit: "pattern steps",
        max: err.maxSteps,
        found: err.spent,
      });
    }
  }) as ValidateFunction;
  bounded.schema = validate.schema;
  bounded.schemaEnv = validate.schemaEnv;
  return bounded;
}

function summaryError(message: string) {
  return { instancePath: "", schemaPath: "#", keyword: "limits", params: {}, message };
}
