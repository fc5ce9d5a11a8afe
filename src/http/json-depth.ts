// JSON.parse takes any nesting, but much of what handles a value afterwards recurses (hashing a version's config,
// Handlebars turning an array into text, JSON.stringify): a body nested 100,000 deep overflowed the stack there and
// came back as a 500. Real bodies nest a few levels; deeper ones are refused before anything walks them.
import { AppError } from "./errors.js";

export const MAX_JSON_DEPTH = 64;

/** How deep `value` nests, counting no further than `max + 1`; iterative, so any depth is safe to measure. */
export function jsonDepth(value: unknown, max: number = MAX_JSON_DEPTH): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth > deepest) deepest = depth;
    if (depth > max) break;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return deepest;
}

export function checkJsonDepth(body: unknown): void {
  if (jsonDepth(body) > MAX_JSON_DEPTH) {
    throw new AppError("validation_error", `request body nests deeper than ${MAX_JSON_DEPTH} levels of objects and arrays`, {
      limits: [{ limit: "JSON nesting depth", max: MAX_JSON_DEPTH }],
    });
  }
}
