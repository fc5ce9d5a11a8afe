// What changed between two versions: the template as a unified line diff, the config and the variable contract
// as structured changes, and the bump the versioning rules would require.
import { createTwoFilesPatch } from "diff";
import type { PromptVersion, Template } from "@promptreg/client/contract";
import { canonicalJson, contractOf, requiredBump } from "./versioning.js";

export interface ValueChange {
  path: string;
  change: "added" | "removed" | "changed";
  from?: unknown;
  to?: unknown;
}

/** A chat template as text, one block per message, so a line diff reads like a conversation. */
function templateText(template: Template): string {
  if (typeof template === "string") return template.endsWith("\n") ? template : `${template}\n`;
  return template
    .map((m) =>
      "type" in m ? `[placeholder: ${m.name}]\n` : `[${m.role}]\n${m.content}${m.content.endsWith("\n") ? "" : "\n"}`,
    )
    .join("\n");
}

function flatten(value: unknown, prefix: string, out: Map<string, unknown>): Map<string, unknown> {
  if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) out.set(prefix, value);
  return out;
}

function diffJson(from: unknown, to: unknown): ValueChange[] {
  const a = flatten(from ?? {}, "", new Map());
  const b = flatten(to ?? {}, "", new Map());
  const changes: ValueChange[] = [];
  for (const [path, v] of a) {
    if (!b.has(path)) changes.push({ path, change: "removed", from: v });
    else if (canonicalJson(v) !== canonicalJson(b.get(path)))
      changes.push({ path, change: "changed", from: v, to: b.get(path) });
  }
  for (const [path, v] of b) if (!a.has(path)) changes.push({ path, change: "added", to: v });
  return changes.sort((x, y) => x.path.localeCompare(y.path));
}

export function diffVersions(from: PromptVersion, to: PromptVersion) {
  const fromText = templateText(from.template);
  const toText = templateText(to.template);
  // Both contracts as they are enforced today, like the bump at publish.
  const [fromContract, toContract] = [contractOf(from), contractOf(to)];
  const before = new Map(fromContract.variables.map((v) => [v.name, v]));
  const after = new Map(toContract.variables.map((v) => [v.name, v]));
  const variables = {
    added: toContract.variables.filter((v) => !before.has(v.name)),
    removed: fromContract.variables.filter((v) => !after.has(v.name)),
    changed: toContract.variables
      .filter((v) => before.has(v.name) && canonicalJson(before.get(v.name)) !== canonicalJson(v))
      .map((v) => ({ name: v.name, from: before.get(v.name)!, to: v })),
  };
  const config = diffJson(from.config, to.config);
  const bump = requiredBump(fromContract, toContract);
  return {
    name: from.name,
    from: { version: from.version, contentHash: from.contentHash, ...(from.label ? { label: from.label } : {}) },
    to: { version: to.version, contentHash: to.contentHash, ...(to.label ? { label: to.label } : {}) },
    identical: from.contentHash === to.contentHash,
    template: {
      changed: fromText !== toText,
      unified: createTwoFilesPatch(
        `${from.name}@${from.version}`,
        `${to.name}@${to.version}`,
        fromText,
        toText,
        undefined,
        undefined,
        { context: 3 },
      ),
    },
    config,
    variablesSchema: diffJson(from.variablesSchema, to.variablesSchema),
    variables,
    /** What the versioning rules require between the two (from -> to). */
    requiredBump: from.contentHash === to.contentHash ? null : bump,
  };
}
