// Exact decimal amounts (costs in USD) as integers of 10^-30, the scale of the database's cost columns: sums of
// decimal prices add up exactly (0.00018 × 36 is 0.00648, where floating point gives 0.0064799999999999944). An
// answer gives each amount as the JSON number nearest to it, which reads as the exact decimal up to 15 significant
// digits (more than any cost has).
const SCALE = 30;

/** A decimal as PostgreSQL writes numeric (`-12.3400`), or a finite JS number (by its shortest decimal text). */
export function parseDecimal(value: string | number): bigint {
  const text = typeof value === "number" ? decimalText(value) : value.trim();
  const match = /^(-?)(\d+)(?:\.(\d*))?$/.exec(text);
  if (!match) throw new RangeError(`not a decimal: ${text}`);
  const [, sign, whole, fraction = ""] = match;
  const digits = BigInt(whole! + fraction.slice(0, SCALE).padEnd(SCALE, "0"));
  return sign ? -digits : digits;
}

/** The shortest decimal text of a finite number, without an exponent (`1e-7` is `0.0000001`). */
function decimalText(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`not a finite number: ${n}`);
  const text = String(n);
  const match = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!match) return text;
  const [, sign, whole, fraction = "", exponent] = match;
  const digits = whole! + fraction;
  // Where the decimal point goes, counted from the left of `digits`.
  const point = whole!.length + Number(exponent);
  if (point >= digits.length) return `${sign}${digits}${"0".repeat(point - digits.length)}`;
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** `a` as the shortest decimal text (no trailing zeros). */
export function formatDecimal(a: bigint): string {
  const negative = a < 0n;
  const digits = (negative ? -a : a).toString().padStart(SCALE + 1, "0");
  const whole = digits.slice(0, -SCALE);
  const fraction = digits.slice(-SCALE).replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${fraction ? `.${fraction}` : ""}`;
}

/** `a` as the JSON number nearest to it. */
export const decimalNumber = (a: bigint): number => Number(formatDecimal(a));

/** `sum / count`, rounded half away from zero at the 30th decimal; null when there is nothing to divide by. */
export function meanOf(sum: bigint, count: number): bigint | null {
  if (count === 0) return null;
  const n = BigInt(count);
  const q = sum / n;
  const r = sum % n;
  return 2n * (r < 0n ? -r : r) >= n ? q + (sum < 0n ? -1n : 1n) : q;
}
