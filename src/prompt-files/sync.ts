// Prompts as code: a folder of prompt files pushed to a registry (each changed prompt published, its semver bump
// decided by the server as for any publish), and a registry's prompts exported to such a folder.
import {
  PROMPT_NAME_PATTERN,
  PromptDetailSchema,
  PromptListSchema,
  PromptVersionSchema,
  PublishPreviewSchema,
  TemplateErrorDetailsSchema,
  type PromptDetail,
  type PublishVersionBody,
  type RequiredBump,
} from "@promptreg/client/contract";
import { ApiError, type AdminClient } from "../admin-client.js";
import { formatPromptFile, PromptFileRefused, PromptFilesError, writePromptFile, type PromptFile } from "./files.js";

export interface PlannedPrompt {
  name: string;
  file: string;
  /** What a push does to the prompt's versions. */
  change: "new" | "changed" | "unchanged";
  /** The highest version before the push; null for a new prompt. */
  from: string | null;
  /** The version the file is, after the push. */
  to: string;
  bump: RequiredBump | null;
  /** The labels the push moves to `to`, with the version each held before (null: the label is new). */
  labelMoves: { label: string; from: string | null }[];
  /** The prompt's fields the file sets to something else (a file that leaves one out leaves it as it is). */
  newFields: ("description" | "tags")[];
}

/** Whether a push does anything to the prompt: publishes a version, moves a label, or sets its description or tags. */
export function isPending(step: PlannedPrompt): boolean {
  return step.change !== "unchanged" || step.labelMoves.length > 0 || step.newFields.length > 0;
}

export interface PushOptions {
  api: AdminClient;
  files: PromptFile[];
  /** Labels to point at each prompt's pushed version (e.g. `staging`). */
  labels: string[];
  commitMessage?: string;
  /** An admin's move of `labels` past their gates, with the reason the ledger records. */
  override?: { reason: string };
}

const enc = encodeURIComponent;

function publishBody(f: PromptFile, options: PushOptions): PublishVersionBody {
  return {
    ...f.content,
    ...(options.commitMessage ? { commitMessage: options.commitMessage } : {}),
    ...(options.labels.length ? { labels: options.labels } : {}),
    ...(options.override ? { override: true, reason: options.override.reason } : {}),
  };
}

/**
 * What a push would do, prompt by prompt, from the server's own dry run of each publish: every file is checked by
 * the server (template, schema, the prompt's type) before anything is written. Problems fail the plan, all named.
 */
export async function planPush(options: PushOptions): Promise<PlannedPrompt[]> {
  const problems: string[] = [];
  const plan: PlannedPrompt[] = [];
  for (const f of options.files) {
    try {
      const preview = PublishPreviewSchema.parse(
        await options.api.post(`/prompts/${enc(f.name)}/versions?dryRun=true`, publishBody(f, options)),
      );
      const current = await currentPrompt(options.api, f.name);
      const labels = new Map(current?.labels.map((l) => [l.name, l.version]));
      plan.push({
        name: f.name,
        file: f.file,
        change: preview.previousVersion === null ? "new" : preview.created ? "changed" : "unchanged",
        from: preview.previousVersion,
        to: preview.version.version,
        bump: preview.requiredBump,
        labelMoves: options.labels
          .filter((label) => labels.get(label) !== preview.version.version)
          .map((label) => ({ label, from: labels.get(label) ?? null })),
        // The dry run sets them too, but says nothing of it: compared here with what the prompt holds.
        newFields: (["description", "tags"] as const).filter(
          (field) =>
            current !== null &&
            f.content[field] !== undefined &&
            JSON.stringify(f.content[field]) !== JSON.stringify(current[field]),
        ),
      });
    } catch (err) {
      if (!(err instanceof ApiError) || err.status >= 500 || err.status === 401 || err.status === 403) throw err;
      problems.push(`${f.file}${templateLine(f, err.details)}: ${err.message}`);
    }
  }
  if (problems.length) throw new PromptFilesError(problems);
  return plan;
}

export interface PushedPrompt {
  step: PlannedPrompt;
  /** The version the publish answered with: the plan's `to`, unless another was published in between. */
  version: string;
}

/**
 * A push that stopped at a failed publish: the prompts before it are published, those after it are not tried.
 * Pushing again is safe: a prompt already as its file publishes nothing.
 */
export class PushInterruptedError extends Error {
  constructor(
    readonly pushed: PushedPrompt[],
    readonly failed: PlannedPrompt,
    readonly notTried: PlannedPrompt[],
    cause: unknown,
  ) {
    super(`the push stopped at ${failed.name}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/**
 * Publishes, one prompt at a time in the plan's order, what the plan says the push changes (a version, a label, the
 * description or tags), calling `onPushed` after each. Prompts already as their files are left alone.
 * @throws {PushInterruptedError} at the first publish that fails, naming what was published and what was not.
 */
export async function applyPush(
  options: PushOptions,
  plan: PlannedPrompt[],
  onPushed: (pushed: PushedPrompt) => void = () => {},
): Promise<PushedPrompt[]> {
  const byName = new Map(options.files.map((f) => [f.name, f]));
  const steps = plan.filter(isPending);
  const pushed: PushedPrompt[] = [];
  for (const [i, step] of steps.entries()) {
    let version: string;
    try {
      const body = publishBody(byName.get(step.name)!, options);
      version = PromptVersionSchema.parse(await options.api.post(`/prompts/${enc(step.name)}/versions`, body)).version;
    } catch (err) {
      throw new PushInterruptedError(pushed, step, steps.slice(i + 1), err);
    }
    pushed.push({ step, version });
    onPushed({ step, version });
  }
  return pushed;
}

async function currentPrompt(api: AdminClient, name: string): Promise<PromptDetail | null> {
  try {
    return PromptDetailSchema.parse(await api.get(`/prompts/${enc(name)}`));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

/** `:line` in the file for a template error the server located, when the file's layout allows it. */
function templateLine(f: PromptFile, details: unknown): string {
  const where = TemplateErrorDetailsSchema.safeParse(details);
  if (!where.success) return "";
  const line = f.fileLineOf(where.data.line, where.data.messageIndex);
  return line === null ? "" : `:${line}`;
}

export interface ExportOptions {
  api: AdminClient;
  dir: string;
  /** Only prompts in this folder (and below). */
  prefix?: string;
  /** The version written for each prompt: `latest` (the highest, what a push compares with) unless said. */
  ref: string;
}

export interface ExportOutcome {
  written: { name: string; file: string; version: string }[];
  /** Prompts without the ref (no such label), and prompts whose file cannot be written where their name says. */
  skipped: { name: string; reason: string }[];
}

export async function exportPrompts({ api, dir, prefix, ref }: ExportOptions): Promise<ExportOutcome> {
  const outcome: ExportOutcome = { written: [], skipped: [] };
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ limit: "200" });
    if (prefix) query.set("prefix", prefix);
    if (cursor) query.set("cursor", cursor);
    const page = PromptListSchema.parse(await api.get(`/prompts?${query}`));
    for (const prompt of page.data) {
      // The name is checked before it is used in a URL or a path: it came from the server.
      if (prompt.name.length > 255 || !PROMPT_NAME_PATTERN.test(prompt.name)) {
        outcome.skipped.push({
          name: prompt.name.slice(0, 300),
          reason: "the registry sent a name that is not a prompt name; nothing written for it",
        });
        continue;
      }
      let version: ReturnType<typeof PromptVersionSchema.parse>;
      try {
        version = PromptVersionSchema.parse(await api.get(`/prompts/${enc(prompt.name)}/resolve?ref=${enc(ref)}`));
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 404) throw err;
        outcome.skipped.push({ name: prompt.name, reason: err.message.replace(/^.*? answered 404 not_found: /, "") });
        continue;
      }
      let file: string;
      try {
        file = await writePromptFile(dir, prompt.name, formatPromptFile(version, prompt));
      } catch (err) {
        if (!(err instanceof PromptFileRefused)) throw err;
        outcome.skipped.push({ name: prompt.name, reason: err.message });
        continue;
      }
      outcome.written.push({ name: prompt.name, file, version: version.version });
    }
    cursor = page.nextCursor;
  } while (cursor);
  return outcome;
}
