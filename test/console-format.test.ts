// How the console's observability pages print numbers (web/src/observe/format.ts): money never in exponent notation,
// axis labels in one unit and one precision per axis, and no label that reads ".000005" or "0.0 ms".
import { describe, expect, it } from "vitest";
import { ms, msTicks, pctTicks, signedUsd, usd, usdTicks } from "../web/src/observe/format.js";

describe("money", () => {
  it("writes tiny amounts and differences out in full, with three significant digits", () => {
    expect(signedUsd(-1.8e-8)).toBe("−$0.000000018");
    expect(signedUsd(1.8e-8)).toBe("+$0.000000018");
    expect(usd(0.000018)).toBe("$0.000018");
    expect(usd(0.00012345)).toBe("$0.000123");
    expect(usd(3.2e-12)).toBe("$0.0000000000032");
    expect(usd(0)).toBe("$0");
    expect(usd(0.5)).toBe("$0.5");
    expect(usd(12.3456)).toBe("$12.346");
    expect(usd(1234.5)).toBe("$1234.50");
    for (const v of [1e-7, 1.8e-8, 5e-6, 1e-15]) expect(usd(v)).not.toMatch(/e/);
  });
});

describe("durations", () => {
  it("gives sub-millisecond latencies in µs, never 0.0 ms", () => {
    expect(ms(0.04)).toBe("40 µs");
    expect(ms(0.0125)).toBe("12.5 µs");
    expect(ms(0.0004)).toBe("0.4 µs");
    expect(ms(0)).toBe("0 ms");
    expect(ms(4.25)).toBe("4.3 ms");
    expect(ms(551)).toBe("551 ms");
    expect(ms(1500)).toBe("1.50 s");
  });
});

describe("axis labels", () => {
  it("labels a cost axis in dollars with the decimals its step needs, the same on every tick", () => {
    expect(usdTicks([0, 0.000005, 0.00001, 0.000015])).toEqual(["$0", "$0.000005", "$0.000010", "$0.000015"]);
    expect(usdTicks([0, 0.00002, 0.00004])).toEqual(["$0", "$0.00002", "$0.00004"]);
    expect(usdTicks([0, 0.5, 1, 1.5])).toEqual(["$0", "$0.5", "$1.0", "$1.5"]);
    expect(usdTicks([0, 100, 200])).toEqual(["$0", "$100", "$200"]);
  });

  it("labels a latency axis in µs, ms or s by its largest tick, with enough precision to tell ticks apart", () => {
    expect(msTicks([0, 0.02, 0.04, 0.06])).toEqual(["0 µs", "20 µs", "40 µs", "60 µs"]);
    expect(msTicks([0, 0.25, 0.5, 0.75, 1])).toEqual(["0 ms", "0.25 ms", "0.50 ms", "0.75 ms", "1.00 ms"]);
    expect(msTicks([0, 200, 400, 600])).toEqual(["0 ms", "200 ms", "400 ms", "600 ms"]);
    expect(msTicks([0, 500, 1000, 1500])).toEqual(["0 s", "0.5 s", "1.0 s", "1.5 s"]);
  });

  it("labels a rate axis in percent", () => {
    expect(pctTicks([0, 0.025, 0.05, 0.075, 0.1])).toEqual(["0%", "2.5%", "5.0%", "7.5%", "10.0%"]);
    expect(pctTicks([0, 0.05, 0.1])).toEqual(["0%", "5%", "10%"]);
  });

  it("never writes a number with a leading dot or an exponent", () => {
    const steps = [1e-9, 2.5e-7, 5e-6, 1e-4, 0.002, 0.05, 0.25, 1, 20, 500, 5000];
    for (const step of steps) {
      const ticks = [0, step, 2 * step, 3 * step];
      for (const label of [...usdTicks(ticks), ...msTicks(ticks), ...pctTicks(ticks)]) {
        expect(label).not.toMatch(/(^|[^0-9])\.\d/);
        expect(label).not.toMatch(/\de[+-]?\d/i);
      }
    }
  });
});
