// Whether a new variables schema accepts every value the previous one accepted: the semver promise, for schemas.
// Exact for the keywords schemas mostly use (type, enum, const, required, properties, additionalProperties, items,
// minLength/maxLength, minimum/maximum and their exclusive forms, pattern). Any other change is a narrowing unless it
// is proven harmless (the same keyword, unchanged; an assertion removed), so at worst a bump is larger than needed.
import { createSchemaProbe, type SchemaProbe } from "@promptreg/client/render";

type JsonType = "null" | "boolean" | "object" | "array" | "number" | "integer" | "string";

type JsonSchema = Record<string, unknown>;

const ANY_TYPE: ReadonlySet<JsonType> = new Set(["null", "boolean", "object", "array", "number", "string"]);
// The variables are always an object.
const ROOT_TYPE: ReadonlySet<JsonType> = new Set(["object"]);

/** Compared here one by one. */
const HANDLED = new Set([
  "type",
  "nullable",
  "enum",
  "const",
  "required",
  "properties",
  "additionalProperties",
  "patternProperties",
  "items",
  "minLength",
  "maxLength",
  "pattern",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
]);
/** What a `$ref` points to depends on these: any change may change what any reference accepts. */
const STRUCTURAL = new Set([
  "$id",
  "$schema",
  "$ref",
  "$defs",
  "definitions",
  "$anchor",
  "$dynamicRef",
  "$dynamicAnchor",
  "$recursiveRef",
  "$recursiveAnchor",
  "$vocabulary",
]);
/** Keywords Ajv knows that never refuse a value. Keywords it does not know at all are ignored the same way. */
const ANNOTATIONS = new Set(["$comment"]);
/** Keywords whose meaning depends on a sibling: unchanged, they still accept differently when the sibling changed. */
const DEPENDS_ON: Record<string, string> = { then: "if", else: "if", additionalItems: "items" };

interface Compare {
  probe: SchemaProbe;
  out: string[];
}

/**
 * Why `next` may refuse a value `prev` accepted, one reason per place; empty when `next` accepts everything `prev`
 * did. No schema accepts everything. The root's `required` is left to the variable contract, which lists it.
 */
export function schemaNarrowings(prev: JsonSchema | null | undefined, next: JsonSchema | null | undefined): string[] {
  const c: Compare = { probe: createSchemaProbe(), out: [] };
  compare(c, prev ?? true, next ?? true, "", ROOT_TYPE);
  return c.out;
}

function where(at: string): string {
  return at === "" ? "the variables" : `'${at}'`;
}

function child(at: string, name: string): string {
  return at === "" ? name : `${at}.${name}`;
}

function compare(c: Compare, prev: unknown, next: unknown, at: string, known: ReadonlySet<JsonType>): void {
  if (next === true || prev === false) return;
  if (next === false) {
    c.out.push(`${where(at)} is refused now`);
    return;
  }
  const p = prev === true || !isRecord(prev) ? {} : prev;
  const n = isRecord(next) ? next : {};
  const unproven = (what: string) => {
    c.out.push(`${where(at)}: ${what}, which is not proven to accept everything it did`);
  };

  for (const key of STRUCTURAL) {
    if ((key in p || key in n) && !same(p[key], n[key])) unproven(`${key} changed`);
  }

  // A list of values is compared by trying each one.
  if ("enum" in p || "const" in p) {
    const values = "const" in p ? [p.const] : Array.isArray(p.enum) ? p.enum : [];
    for (const value of values) {
      if (c.probe.accepts(p, value) === false) continue;
      const accepted = c.probe.accepts(n, value);
      if (accepted === undefined) {
        unproven("the schema changed");
        return;
      }
      if (!accepted) c.out.push(`${where(at)} no longer accepts ${JSON.stringify(value)}`);
    }
    return;
  }
  if ("enum" in n || "const" in n) {
    const allowed = "const" in n ? [n.const] : Array.isArray(n.enum) ? n.enum : [];
    c.out.push(
      `${where(at)} must now be ${allowed.length === 1 ? "" : "one of "}${allowed.map((v) => JSON.stringify(v)).join(", ")}`,
    );
  }

  const prevTypes = typesOf(p) ?? known;
  const types = new Set([...prevTypes].filter((t) => known.has(t) || (t === "integer" && known.has("number"))));
  const nextTypes = typesOf(n);
  if (nextTypes) {
    const lost = [...types].filter((t) => !nextTypes.has(t) && !(t === "integer" && nextTypes.has("number")));
    if (lost.length > 0) {
      c.out.push(
        `${where(at)} must now be ${[...nextTypes].join(" or ")} (was ${typesOf(p) ? [...types].join(" or ") : "any type"})`,
      );
    }
  }

  if (types.has("string")) {
    const [min, max, prevMin, prevMax] = [num(n.minLength), num(n.maxLength), num(p.minLength) ?? 0, num(p.maxLength)];
    if (min !== undefined && min > prevMin)
      c.out.push(`${where(at)} now needs at least ${min} characters (was ${prevMin})`);
    if (max !== undefined && max < (prevMax ?? Infinity)) {
      c.out.push(`${where(at)} now allows at most ${max} characters (was ${prevMax ?? "no limit"})`);
    }
    if (n.pattern !== undefined && n.pattern !== p.pattern) {
      const was = p.pattern === undefined ? "any text" : `/${String(p.pattern)}/`;
      c.out.push(`${where(at)} must now match /${String(n.pattern)}/ (was ${was})`);
    }
  }

  if (types.has("number") || types.has("integer")) {
    for (const side of ["lower", "upper"] as const) {
      const [before, after] = [bound(p, side), bound(n, side)];
      if (!after || (before && covers(after, before, side))) continue;
      const sign = (b: Bound) => (side === "lower" ? (b.exclusive ? ">" : ">=") : b.exclusive ? "<" : "<=");
      const was = before ? `${sign(before)} ${before.value}` : "unbounded";
      c.out.push(`${where(at)} must now be ${sign(after)} ${after.value} (was ${was})`);
    }
  }

  if (types.has("object")) {
    // The root's `required` makes variables required, which the contract reports.
    if (at !== "") {
      const before = new Set(strings(p.required));
      for (const name of strings(n.required)) if (!before.has(name)) c.out.push(`${where(at)} now requires '${name}'`);
    }
    if (!same(p.patternProperties, n.patternProperties)) unproven("patternProperties changed");
    const [props, nextProps] = [isRecord(p.properties) ? p.properties : {}, isRecord(n.properties) ? n.properties : {}];
    const [others, nextOthers] = [p.additionalProperties ?? true, n.additionalProperties ?? true];
    // Each property is checked against the schema that applies to it on each side, named or additional.
    for (const name of [...new Set([...Object.keys(props), ...Object.keys(nextProps)])].sort()) {
      const [before, after] = [
        Object.hasOwn(props, name) ? props[name] : others,
        Object.hasOwn(nextProps, name) ? nextProps[name] : nextOthers,
      ];
      compare(c, before, after, child(at, name), ANY_TYPE);
    }
    if (nextOthers === false && others !== false) {
      const named = Object.keys(nextProps)
        .sort()
        .map((name) => `'${name}'`)
        .join(", ");
      const what = at === "" ? "variables" : `${where(at)}: properties`;
      c.out.push(`${what} other than ${named || "none"} are refused now (additionalProperties: false)`);
    } else {
      compare(c, others, nextOthers, child(at, "*"), ANY_TYPE);
    }
  }

  if (types.has("array")) {
    if (Array.isArray(p.items) || Array.isArray(n.items)) {
      if (!same(p.items, n.items)) unproven("items changed");
    } else {
      compare(c, p.items ?? true, n.items ?? true, `${at}[]`, ANY_TYPE);
    }
  }

  // Every other keyword Ajv validates: proven harmless only when unchanged (with what it depends on) or removed.
  for (const key of Object.keys(n).sort()) {
    if (HANDLED.has(key) || STRUCTURAL.has(key) || ANNOTATIONS.has(key) || !c.probe.isKeyword(key)) continue;
    if (!(key in p)) unproven(`${key} added`);
    else if (!same(p[key], n[key])) unproven(`${key} changed`);
    else if (DEPENDS_ON[key] && !same(p[DEPENDS_ON[key]], n[DEPENDS_ON[key]])) unproven(`${DEPENDS_ON[key]} changed`);
  }
}

function typesOf(schema: Record<string, unknown>): Set<JsonType> | undefined {
  if (schema.type === undefined) return undefined;
  const types = new Set((Array.isArray(schema.type) ? schema.type : [schema.type]) as JsonType[]);
  // Ajv's OpenAPI keyword: null besides the type.
  if (schema.nullable === true) types.add("null");
  return types;
}

interface Bound {
  value: number;
  exclusive: boolean;
}

/** The tightest of a schema's two bounds on one side. */
function bound(schema: Record<string, unknown>, side: "lower" | "upper"): Bound | undefined {
  const [inclusive, exclusive] =
    side === "lower"
      ? [num(schema.minimum), num(schema.exclusiveMinimum)]
      : [num(schema.maximum), num(schema.exclusiveMaximum)];
  if (exclusive === undefined) return inclusive === undefined ? undefined : { value: inclusive, exclusive: false };
  if (inclusive === undefined) return { value: exclusive, exclusive: true };
  const tighter = side === "lower" ? exclusive >= inclusive : exclusive <= inclusive;
  return tighter ? { value: exclusive, exclusive: true } : { value: inclusive, exclusive: false };
}

/** Whether every number within `inner` is within `outer`. */
function covers(outer: Bound, inner: Bound, side: "lower" | "upper"): boolean {
  const looser = side === "lower" ? outer.value < inner.value : outer.value > inner.value;
  return looser || (outer.value === inner.value && (!outer.exclusive || inner.exclusive));
}

function num(value: unknown): number | undefined {
  return typeof value === "number" ? value : undefined;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Deep equality of JSON values, whatever the key order. */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => same(v, b[i]));
  if (!isRecord(a) || !isRecord(b)) return false;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]));
}
