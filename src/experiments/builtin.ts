// The evaluators every experiment has: they compare an output with the item's `expected`, which only a dataset
// gives (production traffic has none), so they live here rather than among the project's evaluators.
import { isDeepStrictEqual } from "node:util";
import { BUILTIN_EXPERIMENT_EVALUATORS } from "@promptreg/client/contract";
import type { ReadDb } from "../db/writes.js";
import type { Issue } from "../http/validate.js";
import type { EvalStatus } from "../traces/annotations.service.js";

export interface ItemVerdict {
  status: EvalStatus;
  score: number | null;
  reason: string;
}

/** Token-overlap F1 at or above this passes `similarity`. */
export const SIMILARITY_THRESHOLD = 0.8;
/** Characters of an output or expected text compared by `similarity` (its work is linear in them). */
const MAX_COMPARED_CHARS = 256 * 1024;

const noExpected: ItemVerdict = { status: "skipped", score: null, reason: "the item has no expected output" };

const expectedText = (expected: unknown) => (typeof expected === "string" ? expected : JSON.stringify(expected));

/**
 * exact_match: the output is the expected text (surrounding whitespace aside); for an expected value that is not a
 * string, the output parses as JSON to an equal value.
 */
export function exactMatch(output: string, expected: unknown): ItemVerdict {
  if (expected === null || expected === undefined) return noExpected;
  if (typeof expected === "string") {
    const same = output.trim() === expected.trim();
    return {
      status: same ? "passed" : "failed",
      score: same ? 1 : 0,
      reason: same ? "the output is the expected text" : "the output differs from the expected text",
    };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(output);
  } catch {
    return { status: "failed", score: 0, reason: "the expected value is JSON and the output does not parse as JSON" };
  }
  const same = isDeepStrictEqual(parsed, expected);
  return {
    status: same ? "passed" : "failed",
    score: same ? 1 : 0,
    reason: same ? "the output is the expected JSON value" : "the output's JSON differs from the expected value",
  };
}

const tokens = (text: string) =>
  text
    .slice(0, MAX_COMPARED_CHARS)
    .toLowerCase()
    .match(/[\p{L}\p{N}]+/gu) ?? [];

/**
 * similarity: the F1 of the words the output and the expected text share (counted with repeats, case and
 * punctuation aside), a score in [0, 1]; passes at SIMILARITY_THRESHOLD. Cheap and order-blind: it says whether the
 * answer says the same things, not whether it says them the same way.
 */
export function similarity(output: string, expected: unknown): ItemVerdict {
  if (expected === null || expected === undefined) return noExpected;
  const a = tokens(output);
  const b = tokens(expectedText(expected));
  if (a.length === 0 && b.length === 0) return { status: "passed", score: 1, reason: "both are empty" };
  const counts = new Map<string, number>();
  for (const t of b) counts.set(t, (counts.get(t) ?? 0) + 1);
  let shared = 0;
  for (const t of a) {
    const left = counts.get(t) ?? 0;
    if (left > 0) {
      shared++;
      counts.set(t, left - 1);
    }
  }
  const score = shared === 0 ? 0 : (2 * shared) / (a.length + b.length);
  const passed = score >= SIMILARITY_THRESHOLD;
  return {
    status: passed ? "passed" : "failed",
    score,
    reason: `${Math.round(score * 100)}% of the words shared (F1); ${passed ? "at least" : "under"} ${SIMILARITY_THRESHOLD * 100}%`,
  };
}

export const BUILTIN = { exact_match: exactMatch, similarity } as const;

/** What is wrong with evaluator names an experiment or a gate asks for: each one neither the project's nor built in. */
export async function unknownEvaluators(
  db: ReadDb,
  projectId: string,
  names: string[],
  path = "body.evaluators",
): Promise<Issue[]> {
  const defined = new Set(
    (await db.evaluator.findMany({ where: { projectId }, select: { name: true } })).map((e) => e.name),
  );
  return names.flatMap((name, i) =>
    defined.has(name) || (BUILTIN_EXPERIMENT_EVALUATORS as readonly string[]).includes(name)
      ? []
      : [
          {
            path: `${path}.${i}`,
            message: `no evaluator named '${name}' in this project (nor a built-in one: ${BUILTIN_EXPERIMENT_EVALUATORS.join(", ")})`,
          },
        ],
  );
}
