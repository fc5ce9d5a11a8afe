// The deterministic evaluator kinds: what each decides, the definitions refused (naming the field), and hostile
// answers (10 MB, deep nesting, patterns that backtrack catastrophically elsewhere) judged with bounded work.
import { describe, expect, it } from "vitest";
import { CheckDefinitionError, compileCheck, EVAL_LIMITS } from "../src/evals/checks.js";

const refusal = (kind: Parameters<typeof compileCheck>[0], config: unknown) => {
  try {
    compileCheck(kind, config);
  } catch (err) {
    expect(err).toBeInstanceOf(CheckDefinitionError);
    return { path: (err as CheckDefinitionError).path.join("."), message: (err as Error).message };
  }
  throw new Error("compiled");
};

describe("deterministic checks", () => {
  it("json: the answer parses", () => {
    const check = compileCheck("json", {});
    expect(check('{"a": [1, 2]}')).toEqual({ status: "passed", reason: "the answer is JSON" });
    expect(check("Sure! {")).toMatchObject({
      status: "failed",
      reason: expect.stringMatching(/^the answer is not JSON: /),
    });
  });

  it("regex: RE2 with flags", () => {
    const check = compileCheck("regex", { pattern: "^order #\\d+$", flags: "im" });
    expect(check("Thanks\nORDER #42")).toEqual({ status: "passed", reason: "the answer matches /^order #\\d+$/im" });
    expect(check("order #x").status).toBe("failed");
    expect(compileCheck("regex", { pattern: "a.b" })("a\nb").status).toBe("failed");
    expect(compileCheck("regex", { pattern: "a.b", flags: "s" })("a\nb").status).toBe("passed");
  });

  it("contains and not_contains: any of the values, case-insensitive unless asked", () => {
    const contains = compileCheck("contains", { values: ["refund", "Return"] });
    expect(contains("You may RETURN it")).toEqual({ status: "passed", reason: 'the answer contains "Return"' });
    expect(contains("no")).toEqual({ status: "failed", reason: "the answer contains none of 2 values" });
    expect(compileCheck("contains", { values: ["Return"], caseSensitive: true })("return").status).toBe("failed");
    const notContains = compileCheck("not_contains", { values: ["as an AI"] });
    expect(notContains("As an AI, I cannot")).toEqual({ status: "failed", reason: 'the answer contains "as an AI"' });
    expect(notContains("Here you go").status).toBe("passed");
  });

  it("json_schema: the answer parses and validates, patterns on RE2", () => {
    const check = compileCheck("json_schema", {
      schema: {
        type: "object",
        required: ["answer", "confidence"],
        properties: { answer: { type: "string", pattern: "^[A-Z]" }, confidence: { type: "number", maximum: 1 } },
      },
    });
    expect(check('{"answer": "Yes", "confidence": 0.9}')).toEqual({
      status: "passed",
      reason: "the answer validates against the schema",
    });
    expect(check('{"answer": "yes", "confidence": 0.9}')).toEqual({
      status: "failed",
      reason: 'the answer does not validate: /answer must match pattern "^[A-Z]"',
    });
    expect(check('{"answer": "Yes"}').reason).toMatch(/must have required property 'confidence'/);
    expect(check("Yes").reason).toMatch(/^the answer is not JSON/);
  });

  it("json_schema: too many values for the schema's cost is an error, not a verdict", () => {
    const check = compileCheck("json_schema", { schema: { type: "array", items: { type: "integer" } } });
    const many = JSON.stringify(Array.from({ length: 100_000 }, () => 1));
    expect(check(many)).toMatchObject({ status: "error", reason: expect.stringMatching(/could not be checked/) });
  });

  it("length: characters as a reader counts them", () => {
    const check = compileCheck("length", { min: 2, max: 3 });
    expect(check("😀😀😀")).toEqual({ status: "passed", reason: "the answer has 3 characters" });
    expect(check("a")).toEqual({ status: "failed", reason: "the answer has 1 characters, fewer than 2" });
    expect(check("abcd").status).toBe("failed");
  });

  it.each([
    ["regex", { pattern: "(?<=a)b" }, "pattern", /no lookaround/],
    ["regex", { pattern: "(a)\\1" }, "pattern", /not supported/],
    ["regex", { pattern: "(" }, "pattern", /not a valid regular expression/],
    ["regex", { pattern: "a{1000}{1000}" }, "pattern", /./],
    ["regex", { pattern: "x", flags: "ii" }, "flags", /each once/],
    ["regex", { pattern: "x", flags: "g" }, "flags", /i, m and s/],
    ["regex", { pattern: "" }, "pattern", /empty/],
    ["contains", { values: [] }, "values", /must list a value/],
    ["contains", { values: [""] }, "values.0", /empty/],
    ["contains", { values: ["a"], extra: 1 }, "", /extra/],
    ["length", {}, "", /min, max or both/],
    ["length", { min: 5, max: 2 }, "max", /less than min/],
    ["length", { min: -1 }, "min", /./],
    ["json", { strict: true }, "", /strict/],
    ["json_schema", {}, "schema", /./],
    ["json_schema", { schema: [] }, "schema", /JSON Schema object/],
    ["json_schema", { schema: { type: "string", pattern: "(?=a)" } }, "schema", /lookaround/],
    [
      "json_schema",
      { schema: { $ref: "#/$defs/a", $defs: { a: { items: { $ref: "#/$defs/a" } } } } },
      "schema",
      /recursive/,
    ],
    ["json_schema", { schema: { type: "nope" } }, "schema", /not a valid JSON Schema/],
  ] as const)("refuses %s %j at config.%s", (kind, config, path, message) => {
    expect(refusal(kind, config)).toEqual({ path, message: expect.stringMatching(message) });
  });

  describe("hostile answers are judged with bounded work", () => {
    const huge = "a".repeat(10 * 1024 * 1024);
    it("skips an answer longer than the limit rather than reading it, except for length", () => {
      for (const check of [
        compileCheck("json", {}),
        compileCheck("regex", { pattern: "a" }),
        compileCheck("contains", { values: ["b"] }),
      ])
        expect(check(huge)).toEqual({
          status: "skipped",
          reason: `the answer is longer than ${EVAL_LIMITS.maxOutputChars} characters`,
        });
      expect(compileCheck("length", { max: 100 })(huge)).toEqual({
        status: "failed",
        reason: `the answer has ${huge.length} characters, more than 100`,
      });
    });

    it("parses deeply nested JSON within the limit, or says why it does not", () => {
      const depth = EVAL_LIMITS.maxOutputChars / 2 - 1;
      const nested = `${"[".repeat(depth)}${"]".repeat(depth)}`;
      expect(["passed", "failed"]).toContain(compileCheck("json", {})(nested).status);
      expect(compileCheck("json", {})("[".repeat(depth)).status).toBe("failed");
    });

    it("matches a pattern that backtracks catastrophically elsewhere in linear time, and refuses a match over the step budget", () => {
      const evil = compileCheck("regex", { pattern: "^(a+)+$" });
      // 2^n steps for a backtracking engine; here characters × instructions, counted before matching.
      expect(evil(`${"a".repeat(30_000)}!`).status).toBe("failed");
      expect(evil(`${"a".repeat(EVAL_LIMITS.maxOutputChars - 1)}!`)).toMatchObject({ status: "error" });
      const big = compileCheck("regex", { pattern: "(a|b|c|d|e|f|g|h|i|j){30}" });
      const answer = "x".repeat(EVAL_LIMITS.maxOutputChars);
      expect(big(answer)).toMatchObject({
        status: "error",
        reason: expect.stringMatching(/would take \d+ steps \(limit: 1000000\)/),
      });
    });
  });
});
