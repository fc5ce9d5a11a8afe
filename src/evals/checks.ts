// The deterministic evaluator kinds: checks of a model's answer that need no model. Each is compiled once from its
// definition (a bad one is refused, naming the field) and then judges an answer with bounded work, whatever the
// answer: an output over EVAL_LIMITS.maxOutputChars is skipped rather than read, and a pattern is matched only when
// characters × compiled size fit the budget (RE2, linear in the input: never a catastrophic backtrack).
import { Ajv, type SchemaObject } from "ajv";
import { RE2JS } from "re2js";
import { z } from "zod";
import { boundValidate, checkSchemaLimits } from "@promptreg/client/schema-limits";
import { safeRegExp, toRe2Syntax } from "@promptreg/client/safe-regexp";

export const EVAL_LIMITS = Object.freeze({
  /** Characters of an answer the checks read; longer answers are skipped (length excepted: it reads no characters). */
  maxOutputChars: 256 * 1024,
  /** Characters of a pattern. */
  maxPatternChars: 1_000,
  /** Instructions of a compiled pattern. */
  maxProgramSize: 2_000,
  /**
   * Characters × instructions one match may take. RE2's cost per step depends on the pattern: ^(a+)+$ on 262,144
   * characters (2.6 million steps) took 33 ms, so this is set where the slowest shape stays near 12 ms (bench/limits.mjs).
   */
  maxPatternSteps: 1_000_000,
});

/** How one answer fared. `skipped` and `error` are no verdict on the answer: compare leaves them out of the judged. */
export interface Verdict {
  status: "passed" | "failed" | "skipped" | "error";
  reason: string;
}

export const CheckConfigSchemas = {
  json: z.strictObject({}),
  /** The answer parses as JSON and the value validates against `schema` (patterns run on RE2, as at publish). */
  json_schema: z.strictObject({
    schema: z.custom<Record<string, unknown>>(
      (v) => typeof v === "object" && v !== null && !Array.isArray(v),
      "must be a JSON Schema object",
    ),
  }),
  regex: z.strictObject({
    pattern: z.string().min(1, "must not be empty").max(EVAL_LIMITS.maxPatternChars),
    /** i: case-insensitive, s: `.` matches newlines, m: `^` and `$` match at line ends. */
    flags: z
      .string()
      .regex(/^(?!.*(.).*\1)[ims]*$/, "must be some of i, m and s, each once")
      .default(""),
  }),
  contains: z.strictObject({
    values: z.array(z.string().min(1, "must not be empty").max(1_000)).min(1, "must list a value").max(100),
    caseSensitive: z.boolean().default(false),
  }),
  not_contains: z.strictObject({
    values: z.array(z.string().min(1, "must not be empty").max(1_000)).min(1, "must list a value").max(100),
    caseSensitive: z.boolean().default(false),
  }),
  length: z
    .strictObject({ min: z.int().min(0).optional(), max: z.int().min(0).optional() })
    .refine((c) => c.min !== undefined || c.max !== undefined, "must set min, max or both")
    .refine((c) => c.min === undefined || c.max === undefined || c.min <= c.max, {
      path: ["max"],
      message: "must not be less than min",
    }),
};
export type CheckKind = keyof typeof CheckConfigSchemas;
export const CHECK_KINDS = Object.keys(CheckConfigSchemas) as CheckKind[];

/** A definition that cannot be compiled, with the path of the field at fault (below `config`). */
export class CheckDefinitionError extends Error {
  constructor(
    readonly path: string[],
    message: string,
  ) {
    super(message);
  }
}

export type Check = (output: string) => Verdict;

const passed = (reason: string): Verdict => ({ status: "passed", reason });
const failed = (reason: string): Verdict => ({ status: "failed", reason });
const quote = (s: string) => JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s);

/** Compiles a parsed config (see CheckConfigSchemas) into its check. */
export function compileCheck(kind: CheckKind, rawConfig: unknown): Check {
  const parsed = CheckConfigSchemas[kind].safeParse(rawConfig);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CheckDefinitionError(issue.path.map(String), issue.message);
  }
  const check = build(kind, parsed.data as never);
  if (kind === "length") return check;
  return (output) =>
    output.length > EVAL_LIMITS.maxOutputChars
      ? { status: "skipped", reason: `the answer is longer than ${EVAL_LIMITS.maxOutputChars} characters` }
      : check(output);
}

function build(kind: CheckKind, config: Record<string, never>): Check {
  switch (kind) {
    case "json":
      return (output) => {
        try {
          JSON.parse(output);
          return passed("the answer is JSON");
        } catch (err) {
          return failed(`the answer is not JSON: ${(err as Error).message}`);
        }
      };
    case "json_schema":
      return schemaCheck((config as unknown as { schema: Record<string, unknown> }).schema);
    case "regex":
      return regexCheck(config as unknown as z.infer<(typeof CheckConfigSchemas)["regex"]>);
    case "contains":
    case "not_contains": {
      const { values, caseSensitive } = config as unknown as z.infer<(typeof CheckConfigSchemas)["contains"]>;
      const wanted = caseSensitive ? values : values.map((v) => v.toLowerCase());
      return (output) => {
        const text = caseSensitive ? output : output.toLowerCase();
        const found = wanted.findIndex((v) => text.includes(v));
        if (kind === "contains")
          return found >= 0
            ? passed(`the answer contains ${quote(values[found]!)}`)
            : failed(`the answer contains none of ${values.length} values`);
        return found >= 0
          ? failed(`the answer contains ${quote(values[found]!)}`)
          : passed(`the answer contains none of ${values.length} values`);
      };
    }
    case "length": {
      const { min, max } = config as unknown as { min?: number; max?: number };
      return (output) => {
        // Characters as a reader counts them (code points), not UTF-16 units; an answer too long to count is
        // over any max it could have (maxOutputChars is far below a string's limit).
        const n = output.length > EVAL_LIMITS.maxOutputChars * 4 ? output.length : [...output].length;
        if (min !== undefined && n < min) return failed(`the answer has ${n} characters, fewer than ${min}`);
        if (max !== undefined && n > max) return failed(`the answer has ${n} characters, more than ${max}`);
        return passed(`the answer has ${n} characters`);
      };
    }
  }
}

function regexCheck({ pattern, flags }: { pattern: string; flags: string }): Check {
  try {
    // Parsed only, never run: the pattern is written in JavaScript's syntax, as everywhere else in the registry.
    new RegExp(pattern, `u${flags}`);
  } catch (err) {
    throw new CheckDefinitionError(["pattern"], `is not a valid regular expression: ${(err as Error).message}`);
  }
  let re2: RE2JS;
  try {
    const flagBits = (flags.includes("i") ? RE2JS.CASE_INSENSITIVE : 0) | (flags.includes("m") ? RE2JS.MULTILINE : 0);
    re2 = RE2JS.compile(toRe2Syntax(pattern, { dotAll: flags.includes("s") }), flagBits);
  } catch (err) {
    const reason = (err as Error).message.replace(/^error parsing regexp: /, "");
    throw new CheckDefinitionError(
      ["pattern"],
      `is not supported: ${reason} (patterns run on RE2, which has no lookaround and no backreferences)`,
    );
  }
  const size = re2.programSize();
  if (size > EVAL_LIMITS.maxProgramSize)
    throw new CheckDefinitionError(
      ["pattern"],
      `compiles to ${size} instructions (limit: ${EVAL_LIMITS.maxProgramSize}); use smaller repetition counts`,
    );
  return (output) => {
    const steps = output.length * size;
    if (steps > EVAL_LIMITS.maxPatternSteps)
      return {
        status: "error",
        reason: `matching this ${size}-instruction pattern on a ${output.length}-character answer would take ${steps} steps (limit: ${EVAL_LIMITS.maxPatternSteps})`,
      };
    return re2.matcher(output).find()
      ? passed(`the answer matches /${pattern}/${flags}`)
      : failed(`the answer does not match /${pattern}/${flags}`);
  };
}

function schemaCheck(schema: Record<string, unknown>): Check {
  // The limits a prompt's variablesSchema has: bounded size, compile time and validation work per value checked.
  const limits = checkSchemaLimits(schema as never);
  if (limits.problem !== undefined)
    throw new CheckDefinitionError(["schema"], limits.problem.replace(/variablesSchema/g, "the schema"));
  let validate: ReturnType<typeof boundValidate>;
  try {
    // An Ajv of its own: schemas registered in a shared one (a schema's `$id`, which may name the meta-schema) would
    // be every project's. Compiling happens once per revision; the compiled function is all that is kept.
    const ajv = new Ajv({ allErrors: false, strict: false, code: { regExp: safeRegExp } });
    validate = boundValidate(ajv.compile(schema as SchemaObject), limits.cost, (message) => new Error(message));
  } catch (err) {
    throw new CheckDefinitionError(["schema"], `is not a valid JSON Schema: ${(err as Error).message}`);
  }
  return (output) => {
    let value: unknown;
    try {
      value = JSON.parse(output);
    } catch (err) {
      return failed(`the answer is not JSON: ${(err as Error).message}`);
    }
    let valid: boolean;
    try {
      valid = validate(value) as boolean;
    } catch (err) {
      // Too many values for the schema's cost, a pattern past its budget, or nesting deeper than the stack.
      return { status: "error", reason: `the answer could not be checked: ${(err as Error).message}` };
    }
    if (valid) return passed("the answer validates against the schema");
    const first = validate.errors?.[0];
    return failed(
      `the answer does not validate: ${first ? `${first.instancePath || "(root)"} ${first.message ?? "is invalid"}` : "invalid"}`,
    );
  };
}
