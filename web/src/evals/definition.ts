// An evaluator's definition as the form edits it (text in inputs) and as the API takes it ({kind, target,
// sampleRate, config}). The form keeps every kind's fields, so switching kinds back and forth loses nothing; only
// the chosen kind's config is sent.
import { EVALUATOR_KINDS, type Evaluator, type EvaluatorTarget } from "@promptreg/client/contract";
import type { Issue } from "./issues";

export type EvaluatorKind = (typeof EVALUATOR_KINDS)[number];
export const KINDS: readonly EvaluatorKind[] = EVALUATOR_KINDS;

/** What each kind checks, as the kind picker says it. */
export const KIND_TITLES: Record<EvaluatorKind, string> = {
  json: "JSON: the answer parses as JSON",
  json_schema: "JSON Schema: the answer is JSON valid against a schema",
  regex: "Regex: the answer matches a pattern",
  contains: "Contains: the answer has one of some texts",
  not_contains: "Does not contain: the answer has none of some texts",
  length: "Length: the answer's length is within bounds",
  llm_judge: "LLM judge: a model judges the answer with a judge prompt",
};

export type TargetMode = "all" | "prompt" | "prefix";

export interface FormState {
  name: string;
  kind: EvaluatorKind;
  targetMode: TargetMode;
  targetValue: string;
  label: string;
  sampleRate: string;
  dailyBudget: string;
  enabled: boolean;
  schema: string;
  pattern: string;
  flags: string;
  values: string;
  caseSensitive: boolean;
  min: string;
  max: string;
  judgePrompt: string;
  connection: string;
  threshold: string;
}

export interface Definition {
  kind: EvaluatorKind;
  target: EvaluatorTarget;
  sampleRate: number;
  config: Record<string, unknown>;
}

export const emptyForm = (): FormState => ({
  name: "",
  kind: "json",
  targetMode: "prompt",
  targetValue: "",
  label: "",
  sampleRate: "1",
  dailyBudget: "",
  enabled: true,
  schema: '{\n  "type": "object"\n}',
  pattern: "",
  flags: "",
  values: "",
  caseSensitive: false,
  min: "",
  max: "",
  judgePrompt: "evals/helpful@production",
  connection: "",
  threshold: "",
});

const text = (v: unknown): string => (v === undefined || v === null ? "" : String(v));

export function formOf(e: Evaluator): FormState {
  const c = e.config as Record<string, unknown>;
  const base = emptyForm();
  return {
    ...base,
    name: e.name,
    kind: e.kind,
    targetMode: e.target.prompt !== null ? "prompt" : e.target.prefix !== null ? "prefix" : "all",
    targetValue: e.target.prompt ?? e.target.prefix ?? "",
    label: e.target.label ?? "",
    sampleRate: String(e.sampleRate),
    dailyBudget: text(e.dailyBudget),
    enabled: e.enabled,
    ...(e.kind === "json_schema" ? { schema: JSON.stringify(c.schema ?? {}, null, 2) } : {}),
    ...(e.kind === "regex" ? { pattern: text(c.pattern), flags: text(c.flags) } : {}),
    ...(e.kind === "contains" || e.kind === "not_contains"
      ? {
          values: Array.isArray(c.values) ? c.values.map(String).join("\n") : "",
          caseSensitive: c.caseSensitive === true,
        }
      : {}),
    ...(e.kind === "length" ? { min: text(c.min), max: text(c.max) } : {}),
    ...(e.kind === "llm_judge"
      ? { judgePrompt: text(c.judgePrompt), connection: text(c.connection), threshold: text(c.threshold) }
      : {}),
  };
}

/**
 * A number typed in a field: undefined when empty, NaN when not a number. The server gives the range's message; a
 * text that is no number at all never gets that far.
 */
function numberIn(value: string): number | undefined {
  const t = value.trim();
  return t === "" ? undefined : Number(t);
}

/**
 * An optional key of a config: set when it differs from the kind's default, or when the saved config had it. Sending
 * back exactly the keys that were saved keeps an unchanged definition unchanged, so saving it makes no new revision.
 */
function optional(saved: Record<string, unknown> | undefined, key: string, value: unknown, unset: unknown) {
  return value !== unset || (saved !== undefined && key in saved) ? { [key]: value } : {};
}

/**
 * The definition the form says, what is wrong with it before asking the server (a number that is none, JSON that
 * does not parse), and what it still lacks (a target left empty), with the paths the server gives, so that all of
 * them show in the same place.
 */
export function definitionOf(
  f: FormState,
  saved?: Evaluator,
): { definition: Definition; issues: Issue[]; missing: Issue[] } {
  const issues: Issue[] = [];
  const missing: Issue[] = [];
  const savedConfig = saved && saved.kind === f.kind ? (saved.config as Record<string, unknown>) : undefined;
  const num = (path: string, value: string): number | undefined => {
    const n = numberIn(value);
    if (n !== undefined && !Number.isFinite(n)) issues.push({ path, message: "must be a number" });
    return n;
  };
  const sampleRate = num("sampleRate", f.sampleRate);
  if (sampleRate === undefined) issues.push({ path: "sampleRate", message: "must be a number from 0 to 1" });
  let config: Record<string, unknown> = {};
  switch (f.kind) {
    case "json":
      break;
    case "json_schema":
      try {
        config = { schema: JSON.parse(f.schema) };
      } catch (err) {
        issues.push({ path: "config.schema", message: `is not valid JSON: ${(err as Error).message}` });
      }
      break;
    case "regex":
      config = { pattern: f.pattern, ...optional(savedConfig, "flags", f.flags, "") };
      break;
    case "contains":
    case "not_contains":
      config = {
        values: f.values.split("\n").filter((v) => v.trim() !== ""),
        ...optional(savedConfig, "caseSensitive", f.caseSensitive, false),
      };
      break;
    case "length": {
      const min = num("config.min", f.min);
      const max = num("config.max", f.max);
      config = { ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }) };
      break;
    }
    case "llm_judge": {
      const threshold = num("config.threshold", f.threshold);
      config = {
        judgePrompt: f.judgePrompt.trim(),
        connection: f.connection.trim(),
        ...optional(savedConfig, "threshold", threshold ?? null, null),
      };
      break;
    }
  }
  const value = f.targetValue.trim();
  const target: EvaluatorTarget = {
    prompt: f.targetMode === "prompt" ? value : null,
    prefix: f.targetMode === "prefix" ? value : null,
    label: f.label.trim() === "" ? null : f.label.trim(),
  };
  if (f.targetMode !== "all" && value === "")
    missing.push({
      path: `target.${f.targetMode}`,
      message: f.targetMode === "prompt" ? "name the prompt, or choose every prompt" : "give the start of prompt names",
    });
  return { definition: { kind: f.kind, target, sampleRate: sampleRate ?? Number.NaN, config }, issues, missing };
}

/** A value's JSON with its keys sorted: two definitions are the same when these are. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/** Whether saving `definition` makes a new revision of `saved` (the server decides; this is what it will decide). */
export function changesDefinition(definition: Definition, saved: Evaluator): boolean {
  return (
    canonical(definition) !==
    canonical({ kind: saved.kind, target: saved.target, sampleRate: saved.sampleRate, config: saved.config })
  );
}

/** "support/answer", "prompts under support/", "every prompt", with " · label production". */
export function targetText(t: EvaluatorTarget): string {
  const what = t.prompt !== null ? t.prompt : t.prefix !== null ? `prompts under ${t.prefix}` : "every prompt";
  return t.label === null ? what : `${what} · label ${t.label}`;
}

/** The config in a few words, for the list. */
export function configText(e: Pick<Evaluator, "kind" | "config">): string {
  const c = e.config as Record<string, unknown>;
  switch (e.kind) {
    case "json":
      return "valid JSON";
    case "json_schema":
      return "valid against a JSON Schema";
    case "regex":
      return `/${text(c.pattern)}/${text(c.flags)}`;
    case "contains":
    case "not_contains":
      return `${e.kind === "contains" ? "has one of" : "has none of"} ${Array.isArray(c.values) ? c.values.map((v) => JSON.stringify(v)).join(", ") : ""}`;
    case "length":
      return [c.min !== undefined && `at least ${c.min}`, c.max !== undefined && `at most ${c.max}`]
        .filter(Boolean)
        .join(", ")
        .concat(" characters");
    case "llm_judge":
      return `${text(c.judgePrompt)} via ${text(c.connection)}${c.threshold !== undefined && c.threshold !== null ? `, passes at score ≥ ${c.threshold}` : ""}`;
  }
}
