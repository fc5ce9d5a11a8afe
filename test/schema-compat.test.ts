import { describe, expect, it } from "vitest";
import { schemaNarrowings } from "../src/prompts/schema-compat.js";

type S = Record<string, unknown>;
const obj = (properties: S, more: S = {}): S => ({ type: "object", properties, ...more });
/** The schema of one variable `x`. */
const x = (schema: unknown, more: S = {}): S => obj({ x: schema }, more);

function looser(prev: S | null, next: S | null): void {
  expect(schemaNarrowings(prev, next)).toEqual([]);
}

describe("schemaNarrowings", () => {
  it("finds nothing between equal schemas, or from any schema to none", () => {
    const schema = x(
      { type: "string", maxLength: 5, pattern: "^a", enum: ["a", "ab"] },
      { required: ["x"], additionalProperties: false },
    );
    looser(schema, structuredClone(schema));
    looser(schema, null);
    looser(null, null);
    // The variables are always an object: saying so refuses nothing.
    looser(null, { type: "object" });
  });

  it("type: a narrower set is a narrowing, a wider one or integer to number is not", () => {
    expect(schemaNarrowings(x({ type: "number" }), x({ type: "integer" }))).toEqual([
      "'x' must now be integer (was number)",
    ]);
    expect(schemaNarrowings(x({ type: ["string", "null"] }), x({ type: "string" }))).toEqual([
      "'x' must now be string (was string or null)",
    ]);
    expect(schemaNarrowings(x({}), x({ type: "string" }))).toEqual(["'x' must now be string (was any type)"]);
    expect(schemaNarrowings(null, x({ type: "string" }))).toEqual(["'x' must now be string (was any type)"]);
    looser(x({ type: "integer" }), x({ type: "number" }));
    looser(x({ type: "string" }), x({ type: ["string", "null"] }));
    looser(x({ type: "string" }), x({}));
    // Ajv's `nullable` adds null to the type.
    expect(schemaNarrowings(x({ type: "string", nullable: true }), x({ type: "string" }))).toHaveLength(1);
    looser(x({ type: "string" }), x({ type: "string", nullable: true }));
  });

  it("enum and const: each value the old schema accepted must still pass", () => {
    expect(schemaNarrowings(x({ type: "string" }), x({ type: "string", enum: ["free", "pro"] }))).toEqual([
      `'x' must now be one of "free", "pro"`,
    ]);
    expect(schemaNarrowings(x({ enum: ["free", "pro", "team"] }), x({ enum: ["free", "pro"] }))).toEqual([
      `'x' no longer accepts "team"`,
    ]);
    looser(x({ enum: ["free", "pro"] }), x({ enum: ["pro", "free", "team"] }));
    // What the old list held but the old schema refused anyway is no loss.
    looser(x({ type: "string", enum: ["a", 1] }), x({ type: "string", enum: ["a"] }));
    // Other keywords are judged by the values themselves, exactly.
    looser(x({ enum: ["ab", "cd"] }), x({ type: "string", maxLength: 2, pattern: "^[a-d]+$" }));
    expect(schemaNarrowings(x({ enum: ["ab", "cde"] }), x({ type: "string", maxLength: 2 }))).toEqual([
      `'x' no longer accepts "cde"`,
    ]);
    expect(schemaNarrowings(x({ const: 0.25 }), x({ type: "integer" }))).toEqual(["'x' no longer accepts 0.25"]);
    looser(x({ const: "ü" }), x({ enum: ["ü", ""] }));
    expect(schemaNarrowings(x({}), x({ const: null }))).toEqual(["'x' must now be null"]);
  });

  it("minLength and maxLength", () => {
    expect(schemaNarrowings(x({ type: "string" }), x({ type: "string", maxLength: 200 }))).toEqual([
      "'x' now allows at most 200 characters (was no limit)",
    ]);
    expect(schemaNarrowings(x({ maxLength: 300 }), x({ maxLength: 200 }))).toEqual([
      "'x' now allows at most 200 characters (was 300)",
    ]);
    expect(schemaNarrowings(x({ minLength: 1 }), x({ minLength: 3 }))).toEqual([
      "'x' now needs at least 3 characters (was 1)",
    ]);
    looser(x({ maxLength: 200 }), x({ maxLength: 300 }));
    looser(x({ minLength: 3 }), x({ minLength: 0 }));
    looser(x({ minLength: 3, maxLength: 5 }), x({}));
    // A string keyword cannot refuse what was never a string.
    looser(x({ type: "number" }), x({ type: "number", maxLength: 2 }));
  });

  it("minimum and maximum, exclusive or not", () => {
    expect(schemaNarrowings(x({ type: "number" }), x({ type: "number", maximum: 10 }))).toEqual([
      "'x' must now be <= 10 (was unbounded)",
    ]);
    expect(schemaNarrowings(x({ minimum: 0 }), x({ minimum: 0.5 }))).toEqual(["'x' must now be >= 0.5 (was >= 0)"]);
    expect(schemaNarrowings(x({ minimum: 0 }), x({ exclusiveMinimum: 0 }))).toEqual(["'x' must now be > 0 (was >= 0)"]);
    expect(schemaNarrowings(x({ maximum: 1e308 }), x({ exclusiveMaximum: 1e308 }))).toEqual([
      "'x' must now be < 1e+308 (was <= 1e+308)",
    ]);
    looser(x({ exclusiveMinimum: 0 }), x({ minimum: 0 }));
    looser(x({ minimum: -1.5, maximum: 2.5 }), x({ minimum: -2, maximum: 3 }));
    // The tighter of the two bounds of a side counts.
    looser(x({ minimum: 1, exclusiveMinimum: 0 }), x({ minimum: 1 }));
    looser(x({ type: "string" }), x({ type: "string", minimum: 5 }));
  });

  it("pattern: removed is looser, any other change is not proven", () => {
    expect(schemaNarrowings(x({ type: "string" }), x({ type: "string", pattern: "^[a-z]+$" }))).toEqual([
      "'x' must now match /^[a-z]+$/ (was any text)",
    ]);
    expect(schemaNarrowings(x({ pattern: "^[a-z]+$" }), x({ pattern: "^[a-z0-9]+$" }))).toEqual([
      "'x' must now match /^[a-z0-9]+$/ (was /^[a-z]+$/)",
    ]);
    looser(x({ pattern: "^[a-z]+$" }), x({}));
  });

  it("required: a new name below the root is a narrowing; the root's is the contract's business", () => {
    const user = (required: string[]) =>
      obj({ user: { type: "object", properties: { name: {}, plan: {} }, required } });
    expect(schemaNarrowings(user(["name"]), user(["name", "plan"]))).toEqual(["'user' now requires 'plan'"]);
    looser(user(["name", "plan"]), user(["name"]));
    looser(obj({ a: {} }), obj({ a: {} }, { required: ["a"] }));
  });

  it("additionalProperties and properties: each name against the schema that applies to it", () => {
    expect(schemaNarrowings(obj({ a: {}, b: {} }), obj({ a: {}, b: {} }, { additionalProperties: false }))).toEqual([
      "variables other than 'a', 'b' are refused now (additionalProperties: false)",
    ]);
    // A property dropped from the list now falls under additionalProperties.
    expect(
      schemaNarrowings(
        obj({ a: {}, b: {} }, { additionalProperties: false }),
        obj({ a: {} }, { additionalProperties: false }),
      ),
    ).toEqual(["'b' is refused now"]);
    expect(
      schemaNarrowings(
        obj({}, { additionalProperties: { type: "string" } }),
        obj({}, { additionalProperties: { type: "string", maxLength: 3 } }),
      ),
    ).toEqual(["'*' now allows at most 3 characters (was no limit)"]);
    looser(obj({ a: {} }, { additionalProperties: false }), obj({ a: {} }));
    looser(
      obj({ a: {} }, { additionalProperties: false }),
      obj({ a: {}, b: { type: "string" } }, { additionalProperties: false }),
    );
    // Naming a property with the schema additional properties already had changes nothing.
    looser(
      obj({}, { additionalProperties: { type: "string" } }),
      obj({ c: { type: "string" } }, { additionalProperties: { type: "string" } }),
    );
    expect(
      schemaNarrowings(
        obj({ user: { type: "object", properties: { name: {} } } }),
        obj({ user: { type: "object", properties: { name: { type: "string" } }, additionalProperties: false } }),
      ),
    ).toEqual([
      "'user.name' must now be string (was any type)",
      "'user': properties other than 'name' are refused now (additionalProperties: false)",
    ]);
    expect(schemaNarrowings(obj({}, { patternProperties: { "^a": {} } }), obj({}))).toEqual([
      "the variables: patternProperties changed, which is not proven to accept everything it did",
    ]);
  });

  it("items: compared as the schema of every element", () => {
    const tags = (items: unknown) => obj({ tags: { type: "array", items } });
    expect(schemaNarrowings(tags({ type: "string" }), tags({ type: "string", enum: ["a"] }))).toEqual([
      `'tags[]' must now be "a"`,
    ]);
    expect(schemaNarrowings(obj({ tags: { type: "array" } }), tags({ type: "string" }))).toEqual([
      "'tags[]' must now be string (was any type)",
    ]);
    looser(tags({ type: "string" }), tags({ type: ["string", "number"] }));
    looser(tags({ type: "string" }), obj({ tags: { type: "array" } }));
    expect(schemaNarrowings(tags([{ type: "string" }]), tags([{ type: "string" }, {}]))).toHaveLength(1);
  });

  it("true and false schemas", () => {
    expect(schemaNarrowings(x(true), x(false))).toEqual(["'x' is refused now"]);
    looser(x(false), x({ type: "string" }));
    looser(x({ type: "string" }), x(true));
  });

  it("any other keyword: unchanged or removed is proven, added or changed is not", () => {
    looser(x({ type: "array", minItems: 1, uniqueItems: true }), x({ type: "array" }));
    looser(
      x({ anyOf: [{ type: "string" }, { type: "number" }] }),
      x({ anyOf: [{ type: "string" }, { type: "number" }] }),
    );
    expect(schemaNarrowings(x({ type: "array" }), x({ type: "array", minItems: 1 }))).toEqual([
      "'x': minItems added, which is not proven to accept everything it did",
    ]);
    expect(schemaNarrowings(x({ format: "email" }), x({ format: "uri" }))).toHaveLength(1);
    // `then` means something else under another `if`.
    expect(
      schemaNarrowings(
        x({ if: { type: "string" }, then: { minLength: 1 } }),
        x({ if: { type: "number" }, then: { minLength: 1 } }),
      ),
    ).toHaveLength(2);
    expect(
      schemaNarrowings(x({ if: { type: "string" }, then: { minLength: 1 } }), x({ then: { minLength: 1 } })),
    ).toEqual(["'x': if changed, which is not proven to accept everything it did"]);
  });

  it("ignores annotations and keywords Ajv does not validate", () => {
    looser(
      x({ type: "string" }),
      x({ type: "string", title: "X", description: "d", examples: ["e"], default: "z", $comment: "c", "x-ui": 1 }),
    );
  });

  it("a reference is proven only when it and what it can point to are unchanged", () => {
    const defs = (user: S) => ({ type: "object", $defs: { user }, properties: { u: { $ref: "#/$defs/user" } } });
    looser(defs({ type: "object" }), defs({ type: "object" }));
    expect(schemaNarrowings(defs({ type: "object" }), defs({ type: "object", required: ["id"] }))).toEqual([
      "the variables: $defs changed, which is not proven to accept everything it did",
    ]);
    expect(schemaNarrowings(x({ type: "string" }), x({ $ref: "#/properties/y" }))).toEqual([
      "'x': $ref changed, which is not proven to accept everything it did",
    ]);
  });
});
