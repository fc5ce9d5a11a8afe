// Exact decimal amounts (src/compare/decimal.ts): what compare adds costs with.
import { describe, expect, it } from "vitest";
import { decimalNumber, formatDecimal, meanOf, parseDecimal } from "../src/compare/decimal.js";

describe("decimal amounts", () => {
  it("read PostgreSQL's numeric text and JS numbers, exponents included, and write the shortest text back", () => {
    for (const [input, text] of [
      ["0.000180000000000000000000000000", "0.00018"],
      ["-12.3400", "-12.34"],
      ["42", "42"],
      [1e-7, "0.0000001"],
      [0.00018, "0.00018"],
      [-2.5e-9, "-0.0000000025"],
    ] as const)
      expect(formatDecimal(parseDecimal(input)), String(input)).toBe(text);
    expect(() => parseDecimal("1e5x")).toThrow(RangeError);
    expect(() => parseDecimal(Number.NaN)).toThrow(RangeError);
  });

  it("add without error and divide rounding half away from zero at the 30th decimal", () => {
    const sum = Array.from({ length: 36 }, () => parseDecimal(0.00018)).reduce((a, b) => a + b, 0n);
    expect(decimalNumber(sum)).toBe(0.00648);
    expect(formatDecimal(meanOf(sum, 36)!)).toBe("0.00018");
    expect(formatDecimal(meanOf(parseDecimal("2"), 3)!)).toBe("0.666666666666666666666666666667");
    expect(formatDecimal(meanOf(parseDecimal("-2"), 3)!)).toBe("-0.666666666666666666666666666667");
    expect(meanOf(sum, 0)).toBeNull();
    expect(decimalNumber(parseDecimal(0.00019) - parseDecimal(0.00018))).toBe(0.00001);
  });
});
