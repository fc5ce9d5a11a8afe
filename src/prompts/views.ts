// How prompts and their versions look in answers, from their rows.
import type { PromptType, PromptVersion, Template, VariableSpec } from "@promptreg/client/contract";

export type VersionRow = {
  id: string;
  promptId: string;
  version: string;
  template: unknown;
  config: unknown;
  variables: unknown;
  variablesSchema: unknown;
  commitMessage: string;
  author: string;
  contentHash: string;
  createdAt: Date;
};

export function versionView(
  prompt: { name: string; type: PromptType },
  row: VersionRow,
  label?: string,
): PromptVersion {
  return {
    id: row.id,
    promptId: row.promptId,
    name: prompt.name,
    type: prompt.type,
    version: row.version,
    template: row.template as Template,
    config: (row.config ?? {}) as Record<string, unknown>,
    variables: row.variables as VariableSpec[],
    variablesSchema: (row.variablesSchema ?? null) as Record<string, unknown> | null,
    commitMessage: row.commitMessage,
    author: row.author,
    contentHash: row.contentHash,
    createdAt: row.createdAt.toISOString(),
    ...(label ? { label } : {}),
  };
}

export function promptMeta(row: {
  id: string;
  name: string;
  type: PromptType;
  description: string;
  tags: string[];
  createdAt: Date;
  updatedAt: Date;
}) {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    description: row.description,
    tags: row.tags,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}
