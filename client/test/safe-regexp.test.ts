import { describe, expect, it } from "vitest";
import {
  PATTERN_LIMITS,
  PatternBudgetError,
  PatternError,
  compilePattern,
  meterPatterns,
  toRe2Syntax,
} from "../src/safe-regexp.js";

function refusal(pattern: string): string {
  try {
    compilePattern(pattern);
  } catch (err) {
    expect(err).toBeInstanceOf(PatternError);
    return (err as Error).message;
  }
  throw new Error(`expected ${pattern} to be refused`);
}

describe("compilePattern", () => {
  it("matches what ECMAScript matches, on the cases where RE2's defaults differ", () => {
    const patterns = [
      "^\\s+$",
      "\\S",
      "^[\\s,]+$",
      "^.$",
      "^a.c$",
      "^\\u00e9$",
      "^\\u{1F600}$",
      "^\\uD83D\\uDE00$",
      "^\\cJ$",
      "^[\\b]$",
      "\\bword\\b",
      "^\\d{3}-\\d{4}$",
      "^[^]$",
      "[]",
      "^[[:a]+$",
      "^\\p{Script=Greek}+$",
      "^\\p{Lu}",
      "^(?<year>\\d{4})-\\d{2}$",
      "^\\w+@\\w+\\.[a-z]{2,}$",
      "^[\\u0000-\\u001F]$",
      "a\\/b",
      "^$",
      "x*?y",
      "^(a|ab)(c|bcd)(d*)$",
      "^\\0$",
      "^\\x41\\v$",
    ];
    const inputs = [
      "",
      " ",
      "\t\n",
      "\u00a0",
      "\u2028",
      "\ufeff",
      "\u000b",
      "a",
      "abc",
      "a\nc",
      "a\rc",
      "é",
      "😀",
      "\n",
      "\b",
      "word",
      "a word b",
      "555-1234",
      "5551234",
      "[",
      ":a",
      "αβγ",
      "Ωmega",
      "2024-05",
      "me@example.com",
      "\u0001",
      "a/b",
      "xxy",
      "abcd",
      "\0",
      "A\u000b",
    ];
    for (const pattern of patterns) {
      const native = new RegExp(pattern, "u");
      const safe = compilePattern(pattern);
      for (const input of inputs) {
        expect(safe.test(input), `${pattern} on ${JSON.stringify(input)}`).toBe(native.test(input));
      }
    }
  });

  it("runs the classic catastrophic patterns in linear time", () => {
    const evil = compilePattern("^(a+)+$");
    expect(evil.test(`${"a".repeat(40)}!`)).toBe(false);
    // Tens of thousands of characters: a backtracking engine would take longer than the universe has existed.
    expect(evil.test(`${"a".repeat(50_000)}!`)).toBe(false);
    expect(compilePattern("^(a|a)*$").test(`${"a".repeat(50_000)}b`)).toBe(false);
    expect(compilePattern("^([a-z]+\\s?)*$").test(`${"word ".repeat(5_000)}!`)).toBe(false);
  });

  it("refuses lookaround and backreferences, naming the pattern and saying why", () => {
    expect(refusal("^(?=.*\\d)\\w+$")).toBe(
      'pattern "^(?=.*\\\\d)\\\\w+$" is not supported: invalid or unsupported Perl syntax: `(?=` ' +
        "(patterns run on RE2, which has no lookaround and no backreferences)",
    );
    expect(refusal("(?<!x)y")).toContain("is not supported");
    expect(refusal("(a)\\1")).toContain("invalid escape sequence: `\\1`");
    expect(refusal("(?<n>a)\\k<n>")).toContain("is not supported");
    expect(refusal("[\\S\\d]")).toContain("\\S inside a character class");
  });

  it("refuses what is not ECMAScript, too long, or too large once compiled", () => {
    expect(refusal("(")).toMatch(/^pattern "\(" is not a valid ECMAScript regular expression: /);
    expect(refusal("\\z")).toContain("not a valid ECMAScript");
    expect(refusal("a".repeat(PATTERN_LIMITS.maxLength + 1))).toContain(
      `is ${PATTERN_LIMITS.maxLength + 1} characters long (limit: ${PATTERN_LIMITS.maxLength})`,
    );
    expect(refusal("a{1001}")).toContain("invalid repeat count");
    expect(refusal("[a-z]{1000}[0-9]{1000}[A-Z]{500}")).toMatch(/compiles to \d+ instructions \(limit: 2000\)/);
  });
});

describe("meterPatterns", () => {
  it("charges every match its characters times the pattern's size, and stops past the budget", () => {
    const p = compilePattern("^[a-z]+$");
    const perMatch = (length: number) => PATTERN_LIMITS.stepsPerMatch + length * p.programSize;
    const input = "a".repeat(1_000);
    const fits = Math.floor(10 * perMatch(1_000));
    expect(meterPatterns(() => Array.from({ length: 10 }, () => p.test(input)), fits)).toEqual(Array(10).fill(true));
    const err = (() => {
      try {
        meterPatterns(() => Array.from({ length: 11 }, () => p.test(input)), fits);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(PatternBudgetError);
    expect(err).toMatchObject({ maxSteps: fits, spent: 11 * perMatch(1_000) });
    // Outside a metered validation nothing is charged.
    expect(p.test(input.repeat(100))).toBe(true);
  });
});

describe("toRe2Syntax", () => {
  it("spells ECMAScript's line terminators, white space and escapes out for RE2", () => {
    expect(toRe2Syntax("a.b")).toBe("a[^\\n\\r\\x{2028}\\x{2029}]b");
    expect(toRe2Syntax("\\u00E9\\u{1F600}\\cJ\\0")).toBe("\\x{E9}\\x{1F600}\\x{A}\\x00");
    expect(toRe2Syntax("[.[]")).toBe("[.\\[]");
  });
});
