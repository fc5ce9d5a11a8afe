// The rules that keep a span's values storable, applied while a request is decoded (otlp.ts) and mapped (mapping.ts),
// before the database sees anything. Each value is either normalised into something PostgreSQL accepts or the span
// is rejected with a reason for partial_success; the README's "Send traces" section lists the rules. The database
// errors that still get through are sorted by src/db/errors.ts.

/** A span that cannot be kept: counted and described in partial_success, the rest of its request stored. */
export class SpanRejection extends Error {}

const SPAN_KIND_MAX = 5; // SPAN_KIND_CONSUMER
const STATUS_CODE_MAX = 2; // STATUS_CODE_ERROR

const SPAN_KINDS = new Map([
  ["SPAN_KIND_UNSPECIFIED", 0],
  ["SPAN_KIND_INTERNAL", 1],
  ["SPAN_KIND_SERVER", 2],
  ["SPAN_KIND_CLIENT", 3],
  ["SPAN_KIND_PRODUCER", 4],
  ["SPAN_KIND_CONSUMER", 5],
]);
const STATUS_CODES = new Map([
  ["STATUS_CODE_UNSET", 0],
  ["STATUS_CODE_OK", 1],
  ["STATUS_CODE_ERROR", 2],
]);

/** An enum as either encoding carries it: a number, its decimal text, or (JSON) its name. */
function enumNumber(value: unknown, names: Map<string, number>): number | null {
  if (value === undefined || value === null) return 0;
  if (typeof value === "number") return Number.isInteger(value) ? value : null;
  if (typeof value === "string") return names.get(value) ?? (/^-?\d{1,20}$/.test(value) ? Number(value) : null);
  return null;
}

/**
 * The kind only describes the span's role in the trace and decides nothing here, so a kind this version of OTLP
 * does not define (a newer one, or garbage) is kept as SPAN_KIND_UNSPECIFIED rather than losing the span.
 */
export function spanKindOf(value: unknown): number {
  const n = enumNumber(value, SPAN_KINDS);
  return n !== null && n >= 0 && n <= SPAN_KIND_MAX ? n : 0;
}

/** The status decides whether the call failed: an undefined code cannot be read either way, so the span is rejected. */
export function statusCodeOf(value: unknown): number {
  const n = enumNumber(value, STATUS_CODES);
  if (n === null || n < 0 || n > STATUS_CODE_MAX)
    throw new SpanRejection(`status.code ${describe(value)} is not 0 (unset), 1 (ok) or 2 (error)`);
  return n;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is the point.
const SUSPECT = /[\u0000\uD800-\uDFFF]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is the point.
const BAD_CHARS = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** PostgreSQL text and JSON reject NUL and unpaired surrogates; they become U+FFFD instead of failing the batch. */
export function cleanText(s: string): string {
  return SUSPECT.test(s) ? s.replace(BAD_CHARS, "\uFFFD") : s;
}

/** A stringValue must be a string (a JSON number or object there is a malformed AnyValue, not text to guess at). */
export function stringValueOf(value: unknown, key: string): string {
  if (typeof value !== "string")
    throw new SpanRejection(
      `attribute '${clipText(cleanText(key), 64, 256)}': stringValue must be a string, not ${describe(value)}`,
    );
  return cleanText(value);
}

// The proto3 JSON mapping writes bytes as base64, standard or URL-safe, padded or not.
const BASE64 = /^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}(?:==)?|[A-Za-z0-9+/_-]{3}=?)?$/;

/** A JSON bytesValue must be base64: anything else (text with a NUL, say) is not bytes, so the span is rejected. */
export function bytesValueOf(value: unknown, key: string): string {
  if (typeof value === "string" && BASE64.test(value)) return value;
  throw new SpanRejection(`attribute '${clipText(cleanText(key), 64, 256)}': bytesValue must be base64`);
}

/**
 * `s` cut to at most `maxChars` UTF-16 units and `maxBytes` UTF-8 bytes, never inside a surrogate pair. Values in a
 * btree index must stay under ~2.7 kB per entry, and a character can take 4 bytes, so a character count alone
 * does not bound an index entry.
 */
export function clipText(s: string, maxChars: number, maxBytes: number): string {
  if (s.length <= maxChars && (s.length * 3 <= maxBytes || Buffer.byteLength(s) <= maxBytes)) return s;
  let bytes = 0;
  let end = 0;
  for (const ch of s) {
    const size = Buffer.byteLength(ch);
    if (end + ch.length > maxChars || bytes + size > maxBytes) break;
    bytes += size;
    end += ch.length;
  }
  return s.slice(0, end);
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(clipText(cleanText(value), 32, 128));
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  return Array.isArray(value) ? "an array" : typeof value === "object" ? "an object" : typeof value;
}
