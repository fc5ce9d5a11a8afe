// Text that URLs and JSON can carry but PostgreSQL cannot store: NUL (U+0000), refused in text and jsonb, and
// unpaired UTF-16 surrogates, which are not Unicode (jsonb refuses their escapes; text would silently turn them into
// U+FFFD). Both are refused here, once for every string of a request (path segments, query names and values, JSON
// keys and values), so that no route can forget one and no database error becomes a 500.
import type { RequestHandler } from "express";
import { AppError } from "./errors.js";
import { invalidRequest, issuePath, type Issue } from "./validate.js";

/**
 * JSON bodies nested deeper than this are refused. Far beyond any prompt config, variables or JSON Schema, and far
 * below the depth where recursive code (serialising a config for jsonb, rendering a nested variable) runs out of stack.
 */
export const MAX_JSON_DEPTH = 64;

const MAX_ISSUES = 20;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is the point.
const SUSPECT = /[\u0000\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why PostgreSQL could not store `text`, or null when it can. */
export function unstorableText(text: string): string | null {
  if (!SUSPECT.test(text)) return null;
  if (text.includes("\u0000")) return "must not contain NUL (U+0000)";
  if (LONE_SURROGATE.test(text)) return "must not contain an unpaired UTF-16 surrogate (not valid Unicode)";
  return null;
}

// Offending text is quoted JSON-escaped and shortened: the answer names it without echoing megabytes or raw NULs.
const quote = (text: string) => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);

function refuse(where: "path" | "query" | "body", issues: Issue[]): never {
  throw invalidRequest(where, issues.slice(0, MAX_ISSUES));
}

/** Path segments (percent-decoded) and query names and values. Needs no route, so it runs before any. */
export const guardUrl: RequestHandler = (req, _res, next) => {
  // Raw URL bytes reach us as latin-1 text and Node refuses control characters in a URL, so only a percent escape
  // can produce a NUL: URLs without one (most resolves) cost nothing here.
  if (!req.url.includes("%")) return next();
  const issues: Issue[] = [];
  for (const segment of req.path.split("/")) {
    if (!segment.includes("%")) continue;
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      continue; // Not UTF-8: the router answers 400 for such a parameter.
    }
    const why = unstorableText(decoded);
    // Before routing, a segment has no parameter name yet: the segment itself is quoted instead.
    if (why) issues.push({ path: issuePath("params"), message: `path segment ${quote(decoded)} ${why}` });
  }
  if (issues.length) refuse("path", issues);
  for (const [name, value] of Object.entries(req.query as Record<string, unknown>)) {
    const nameWhy = unstorableText(name);
    if (nameWhy) issues.push({ path: issuePath("query"), message: `parameter name ${quote(name)} ${nameWhy}` });
    for (const v of Array.isArray(value) ? value : [value]) {
      const why = typeof v === "string" ? unstorableText(v) : null;
      if (why) issues.push({ path: issuePath("query", [name]), message: why });
    }
  }
  if (issues.length) refuse("query", issues);
  next();
};

/**
 * Values in one JSON body: every object, array, key and scalar counts one. Parsing, checking, validating and
 * rendering a body all walk it, so its work grows with this count as much as with its bytes: 60,000 variables in
 * 770 kB took half a second of that. Far above what a publish, a render or a batch of 1,000 annotations needs.
 */
export const MAX_JSON_VALUES = 25_000;

/**
 * About how many values the JSON text `body` holds (the commas, colons and opening brackets outside strings, plus
 * one: exact for every value but an empty array or object, which count two). A scan of the bytes, about 2 ms a MB,
 * so a body of too many values is refused before JSON.parse spends tens of milliseconds on it.
 */
export function countJsonValues(body: Uint8Array): number {
  let count = 1;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash: the next byte is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x2c || c === 0x3a || c === 0x5b || c === 0x7b) count++;
  }
  return count;
}

/** For express.json's `verify`: refuses a body of more than MAX_JSON_VALUES values before it is parsed. */
export function verifyJsonSize(_req: unknown, _res: unknown, body: Buffer): void {
  const count = countJsonValues(body);
  if (count > MAX_JSON_VALUES)
    throw new AppError(
      "payload_too_large",
      `request body holds about ${count} JSON values; at most ${MAX_JSON_VALUES}`,
      {
        limit: { limit: "JSON values", max: MAX_JSON_VALUES, found: count },
      },
    );
}

/**
 * Every key and string of a parsed JSON body, and its nesting depth. A first pass only looks (no path is built,
 * nothing allocated per value); only a body with a problem is walked again to name where.
 */
export const guardJsonBody: RequestHandler = (req, _res, next) => {
  const body: unknown = req.body;
  if (body === undefined || body === null || (typeof body !== "object" && typeof body !== "string")) return next();
  if (hasProblem(body)) refuse("body", describeProblems(body));
  next();
};

function hasProblem(body: unknown): boolean {
  const values: unknown[] = [body];
  const depths: number[] = [0];
  while (values.length > 0) {
    const value = values.pop();
    const depth = depths.pop()!;
    if (typeof value === "string") {
      if (unstorableText(value)) return true;
      continue;
    }
    if (value === null || typeof value !== "object") continue;
    if (depth >= MAX_JSON_DEPTH) return true;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        values.push(value[i]);
        depths.push(depth + 1);
      }
      continue;
    }
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      if (unstorableText(key)) return true;
      values.push((value as Record<string, unknown>)[key]);
      depths.push(depth + 1);
    }
  }
  return false;
}

/**
 * What PostgreSQL could not store in a parsed JSON value that arrived another way than as a JSON body (a line of an
 * imported file): the problems with their paths under "body", none when it is storable.
 */
export function storableProblems(value: unknown): Issue[] {
  return hasProblem(value) ? describeProblems(value) : [];
}

/** The problems of `body`, with where each is, the first MAX_ISSUES of them. */
function describeProblems(body: unknown): Issue[] {
  const issues: Issue[] = [];
  const at = (path: PropertyKey[], message: string) => issues.push({ path: issuePath("body", path), message });
  const stack: { value: unknown; path: PropertyKey[] }[] = [{ value: body, path: [] }];
  while (stack.length && issues.length < MAX_ISSUES) {
    const { value, path } = stack.pop()!;
    if (typeof value === "string") {
      const why = unstorableText(value);
      if (why) at(path, why);
      continue;
    }
    if (value === null || typeof value !== "object") continue;
    if (path.length >= MAX_JSON_DEPTH) {
      at(path, `nested deeper than ${MAX_JSON_DEPTH} levels`);
      continue;
    }
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], path: [...path, i] });
      continue;
    }
    const children: typeof stack = [];
    for (const [key, child] of Object.entries(value)) {
      const why = unstorableText(key);
      if (why) at(path, `key ${quote(key)} ${why}`);
      else children.push({ value: child, path: [...path, key] });
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  return issues;
}
