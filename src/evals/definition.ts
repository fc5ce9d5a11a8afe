// An evaluator's definition as the API takes it, and what it compiles to: the parts that decide which spans it looks
// at (target, sample), and how it judges one (a deterministic check, or an LLM judge's configuration).
import { createHash } from "node:crypto";
import { z } from "zod";
import {
  EVALUATOR_KINDS,
  EVALUATOR_NAME_PATTERN,
  LABEL_NAME_PATTERN,
  PROMPT_NAME_PATTERN,
} from "@promptreg/client/contract";
import { AppError } from "../http/errors.js";
import { type Check, CheckDefinitionError, type CheckKind, compileCheck } from "./checks.js";

export type EvaluatorKind = (typeof EVALUATOR_KINDS)[number];

export const evaluatorName = z
  .string()
  .regex(
    EVALUATOR_NAME_PATTERN,
    "must be 1-100 letters, digits, '_', '.', ':' or '-', starting with a letter or digit (it is the annotation name compare reads)",
  );

const promptName = z.string().regex(PROMPT_NAME_PATTERN, "must be a prompt name");
export const TargetSchema = z
  .strictObject({
    prompt: promptName.nullable().default(null),
    /** A folder: every prompt whose name starts with it (`support/`). */
    prefix: z
      .string()
      .min(1, "must not be empty")
      .max(200)
      .regex(/^[A-Za-z0-9_./-]+$/, "must be the start of prompt names (letters, digits, '_', '.', '-', '/')")
      .nullable()
      .default(null),
    label: z.string().regex(LABEL_NAME_PATTERN, "must be a label name").nullable().default(null),
  })
  .refine((t) => t.prompt === null || t.prefix === null, {
    path: ["prefix"],
    message: "give prompt or prefix, not both",
  });
export type Target = z.infer<typeof TargetSchema>;

export const JudgeConfigSchema = z.strictObject({
  /** A chat prompt of this registry and a reference to resolve when judging: `evals/helpful@production`. */
  judgePrompt: z.string().min(1).max(300),
  /** The model connection the judge calls. */
  connection: z.string().min(1).max(64),
  /** When given, `passed` is score >= threshold, whatever the judge said of passed. */
  threshold: z.number().finite().nullable().default(null),
});
export type JudgeConfig = z.infer<typeof JudgeConfigSchema>;

/** What a revision holds: everything that changes what a result means. */
export const DefinitionSchema = z.strictObject({
  kind: z.enum(EVALUATOR_KINDS),
  target: TargetSchema.default({ prompt: null, prefix: null, label: null }),
  sampleRate: z.number().min(0, "must be in [0, 1]").max(1, "must be in [0, 1]"),
  config: z.record(z.string(), z.unknown()).default({}),
});
export type Definition = z.infer<typeof DefinitionSchema>;

export const EvaluatorBodySchema = DefinitionSchema.extend({
  name: evaluatorName,
  enabled: z.boolean().default(true),
  dailyBudget: z.int().min(1).max(100_000_000).nullable().default(null),
});
export type EvaluatorBody = z.infer<typeof EvaluatorBodySchema>;

/** A judge prompt reference split: `name` and the ref after the first `@` (production when none). */
export function parseJudgePrompt(text: string): { name: string; ref: string } {
  const at = text.indexOf("@");
  const name = at < 0 ? text : text.slice(0, at);
  const ref = at < 0 ? "production" : text.slice(at + 1);
  if (!PROMPT_NAME_PATTERN.test(name) || ref === "")
    throw invalidConfig(
      "judgePrompt",
      "must be a prompt of this registry and a reference, as in evals/helpful@production",
    );
  return { name, ref };
}

export function invalidDefinition(path: string, message: string): AppError {
  return new AppError("validation_error", `invalid evaluator: ${path}: ${message}`, { issues: [{ path, message }] });
}
const invalidConfig = (field: string, message: string) => invalidDefinition(`body.config.${field}`, message);

/** How a definition judges one answer, once compiled. */
export type Judging = { kind: "check"; check: Check } | { kind: "llm_judge"; config: JudgeConfig };

/** Compiles a definition's config; a bad one is a 422 naming the field (`body.config.pattern`). */
export function compileDefinition(def: Definition): Judging {
  if (def.kind === "llm_judge") {
    const parsed = JudgeConfigSchema.safeParse(def.config);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw invalidConfig(issue.path.map(String).join(".") || "(root)", issue.message);
    }
    parseJudgePrompt(parsed.data.judgePrompt);
    return { kind: "llm_judge", config: parsed.data };
  }
  try {
    return { kind: "check", check: compileCheck(def.kind as CheckKind, def.config) };
  } catch (err) {
    if (!(err instanceof CheckDefinitionError)) throw err;
    throw invalidConfig(err.path.join(".") || "(root)", err.message);
  }
}

/** What a span must be for a definition to look at it (its prompt and label; the sample is decided apart). */
export function inTarget(target: Target, span: { promptName: string | null; label: string | null }): boolean {
  if (target.prompt !== null && span.promptName !== target.prompt) return false;
  if (target.prefix !== null && !(span.promptName ?? "").startsWith(target.prefix)) return false;
  if (target.label !== null && span.label !== target.label) return false;
  return true;
}

/**
 * Whether a span is in a sample of `rate`: a hash of its span id, so the choice is the same every time (a backfill,
 * another instance, a preview) and the same spans are chosen by every evaluator of one rate.
 */
export function sampled(spanId: string, rate: number): boolean {
  if (rate >= 1) return true;
  if (rate <= 0) return false;
  const h = createHash("sha256").update(spanId).digest().readUInt32BE(0);
  return h / 2 ** 32 < rate;
}
