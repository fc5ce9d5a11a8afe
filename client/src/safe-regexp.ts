// JSON Schema patterns (`pattern`, `patternProperties`, `propertyNames`) written by whoever holds a write key run on
// every render, on the server and in every application. A backtracking engine lets one pattern such as `^(a+)+$`
// take exponential time, so they run on RE2 (the `re2js` port, pure JavaScript so it also works in browsers), whose
// matching time is linear in the input. Two things remain:
// - RE2 has no lookaround and no backreferences: such patterns are refused, with RE2's reason.
// - linear is still not free: up to about 100 ns per character and instruction of the compiled pattern when RE2 meets
//   a pattern for the first time and its DFA gives up, so every match is charged to a budget while a validation runs
//   (`meterPatterns`).
import { RE2JS } from "re2js";

/** The limits on patterns; see the README's "Limits" section. */
export const PATTERN_LIMITS = Object.freeze({
  /** Characters of one pattern. */
  maxLength: 1_000,
  /** Instructions of one compiled pattern (RE2's program size: `a{100}` alone is about 100). */
  maxProgramSize: 2_000,
  /** Steps of pattern matching per validation: one step is one character times one instruction. */
  maxStepsPerValidation: 200_000,
  /** Fixed steps charged per match, for the work every call does whatever the string. */
  stepsPerMatch: 50,
});

export class PatternError extends Error {
  override readonly name = "PatternError";
  constructor(
    readonly pattern: string,
    readonly reason: string,
  ) {
    super(`pattern ${JSON.stringify(pattern)} ${reason}`);
  }
}

/** Thrown by a match when the validation that runs it has spent its budget. */
export class PatternBudgetError extends Error {
  override readonly name = "PatternBudgetError";
  constructor(
    readonly maxSteps: number,
    readonly spent: number,
  ) {
    super(`pattern checks need more than ${maxSteps} steps (characters checked × pattern size)`);
  }
}

// What `\s` means in ECMAScript (WhiteSpace and LineTerminator); RE2's `\s` is only [\t\n\f\r ].
const JS_SPACE =
  "\\t\\n\\x0B\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}";
// ECMAScript's `.` without the `s` flag stops at every line terminator; RE2's only at \n.
const JS_DOT = "[^\\n\\r\\x{2028}\\x{2029}]";
const HEX = /^[0-9a-fA-F]+$/;

function hex(code: number): string {
  return `\\x{${code.toString(16).toUpperCase()}}`;
}

/**
 * Rewrites an ECMAScript pattern (already known to be valid with the `u` flag, which ajv uses) into RE2 syntax with
 * the same meaning, or throws when RE2 cannot express it the same way. `dotAll`: the pattern has the `s` flag.
 */
export function toRe2Syntax(pattern: string, { dotAll = false }: { dotAll?: boolean } = {}): string {
  let out = "";
  let inClass = false;
  let i = 0;
  const n = pattern.length;
  while (i < n) {
    const c = pattern[i]!;
    if (c === "\\") {
      const e = pattern[i + 1]!;
      i += 2;
      switch (e) {
        case "s":
          out += inClass ? JS_SPACE : `[${JS_SPACE}]`;
          continue;
        case "S":
          if (inClass) throw new Error("\\S inside a character class has no RE2 equivalent");
          out += `[^${JS_SPACE}]`;
          continue;
        case "b":
          out += inClass ? "\\x08" : "\\b";
          continue;
        case "0":
          out += "\\x00";
          continue;
        case "c":
          out += hex(pattern.charCodeAt(i) % 32);
          i += 1;
          continue;
        case "u": {
          if (pattern[i] === "{") {
            const end = pattern.indexOf("}", i);
            out += hex(parseInt(pattern.slice(i + 1, end), 16));
            i = end + 1;
            continue;
          }
          let code = parseInt(pattern.slice(i, i + 4), 16);
          i += 4;
          // With the `u` flag, an escaped surrogate pair is one code point.
          const low = pattern.slice(i, i + 6);
          if (code >= 0xd800 && code <= 0xdbff && low.startsWith("\\u") && HEX.test(low.slice(2))) {
            const next = parseInt(low.slice(2), 16);
            if (next >= 0xdc00 && next <= 0xdfff) {
              code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
              i += 6;
            }
          }
          out += hex(code);
          continue;
        }
        case "p":
        case "P": {
          // `\p{Script=Greek}` and `\p{gc=Lu}` are `\p{Greek}` and `\p{Lu}` in RE2; other names pass through and RE2
          // refuses those it does not know.
          const end = pattern.indexOf("}", i);
          const name = pattern.slice(i + 1, end).replace(/^(Script|sc|General_Category|gc)=/, "");
          out += `\\${e}{${name}}`;
          i = end + 1;
          continue;
        }
        default:
          // \d \D \w \W \B \f \n \r \t \v \xHH and escaped punctuation mean the same in both; \1 and \k<name>
          // (backreferences) do not exist in RE2, which says so.
          out += `\\${e}`;
          continue;
      }
    }
    if (inClass) {
      if (c === "]") inClass = false;
      // RE2 reads `[:alpha:]` inside a class as a POSIX class; ECMAScript as the characters.
      out += c === "[" ? "\\[" : c;
      i += 1;
      continue;
    }
    if (c === "[") {
      // ECMAScript's `[]` matches nothing and `[^]` anything; RE2 reads a `]` there as a literal.
      if (pattern.startsWith("[]", i)) {
        out += "[^\\x00-\\x{10FFFF}]";
        i += 2;
        continue;
      }
      if (pattern.startsWith("[^]", i)) {
        out += "[\\x00-\\x{10FFFF}]";
        i += 3;
        continue;
      }
      inClass = true;
      out += pattern[i + 1] === "^" ? "[^" : "[";
      i += pattern[i + 1] === "^" ? 2 : 1;
      continue;
    }
    // With ECMAScript's `s` flag a dot matches line terminators too.
    out += c === "." ? (dotAll ? "(?s:.)" : JS_DOT) : c;
    i += 1;
  }
  return out;
}

export interface SafePattern {
  /** The ECMAScript pattern as written in the schema. */
  source: string;
  programSize: number;
  test(input: string): boolean;
}

// Patterns are compiled when a schema is checked and again by ajv: the second time is a lookup. Compiled patterns are
// immutable values, so sharing them between renderers changes nothing but the time.
const compiled = new Map<string, SafePattern>();
const COMPILED_KEPT = 1_000;

// The budget of the validation running now. Validation is synchronous and `meterPatterns` restores the previous
// value when it returns, so a match always charges the validation that called it.
let meter: { spent: number; max: number } | undefined;

/** Compiles a schema pattern for linear-time matching, or throws a PatternError that says why it cannot be. */
export function compilePattern(source: string): SafePattern {
  const known = compiled.get(source);
  if (known) return known;
  if (source.length > PATTERN_LIMITS.maxLength) {
    throw new PatternError(
      `${source.slice(0, 60)}…`,
      `is ${source.length} characters long (limit: ${PATTERN_LIMITS.maxLength})`,
    );
  }
  try {
    // Only parsed, never run: tells a pattern that is not ECMAScript (JSON Schema's dialect) from one RE2 lacks.
    new RegExp(source, "u");
  } catch (err) {
    throw new PatternError(source, `is not a valid ECMAScript regular expression: ${(err as Error).message}`);
  }
  let re2: RE2JS;
  try {
    re2 = RE2JS.compile(toRe2Syntax(source));
  } catch (err) {
    const reason = (err as Error).message.replace(/^error parsing regexp: /, "");
    throw new PatternError(
      source,
      `is not supported: ${reason} (patterns run on RE2, which has no lookaround and no backreferences)`,
    );
  }
  const programSize = re2.programSize();
  if (programSize > PATTERN_LIMITS.maxProgramSize) {
    throw new PatternError(
      source,
      `compiles to ${programSize} instructions (limit: ${PATTERN_LIMITS.maxProgramSize}); use smaller repetition counts`,
    );
  }
  const pattern: SafePattern = {
    source,
    programSize,
    test(input) {
      if (meter) {
        meter.spent += PATTERN_LIMITS.stepsPerMatch + input.length * programSize;
        if (meter.spent > meter.max) throw new PatternBudgetError(meter.max, meter.spent);
      }
      return re2.test(input);
    },
  };
  if (compiled.size >= COMPILED_KEPT) compiled.delete(compiled.keys().next().value!);
  compiled.set(source, pattern);
  return pattern;
}

/**
 * The engine for ajv's `code.regExp` option. ajv passes the `u` flag, which is what RE2's syntax follows anyway.
 * `code` names the engine in generated standalone code, which this project does not produce.
 */
export const safeRegExp = Object.assign((source: string, _flags: string) => compilePattern(source), {
  code: "safeRegExp",
});

/** Runs `fn` (a validation) with a budget for the pattern matches it does; they throw PatternBudgetError past it. */
export function meterPatterns<T>(fn: () => T, maxSteps: number = PATTERN_LIMITS.maxStepsPerValidation): T {
  const outer = meter;
  meter = { spent: 0, max: maxSteps };
  try {
    return fn();
  } finally {
    meter = outer;
  }
}
