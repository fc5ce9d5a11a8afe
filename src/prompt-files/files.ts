// Prompt files: a prompt kept in a repository as `<name>.prompt.yaml`, its folders being the name's folders
// (`support/triage.prompt.yaml` is the prompt `support/triage`). A file holds what a publish takes: the template,
// and optionally config, variablesSchema, description and tags.
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import {
  JsonObjectSchema,
  PROMPT_NAME_PATTERN,
  TemplateSchema,
  type PromptVersion,
  type Template,
} from "@promptreg/client/contract";
import { isScalar, isSeq, LineCounter, parseDocument, stringify, type Node, type Scalar } from "yaml";
import { z } from "zod";

export const PROMPT_FILE_SUFFIX = ".prompt.yaml";
const SUFFIXES = [PROMPT_FILE_SUFFIX, ".prompt.yml"];
// Far above any real prompt (a template is limited to 100,000 characters); a larger file is a mistake.
const MAX_FILE_BYTES = 1024 * 1024;

const PromptFileSchema = z.strictObject({
  description: z.string().max(10_000).optional(),
  tags: z.array(z.string().min(1).max(64)).max(50).optional(),
  config: JsonObjectSchema.optional(),
  variablesSchema: JsonObjectSchema.optional(),
  template: TemplateSchema,
});
export type PromptFileContent = z.infer<typeof PromptFileSchema>;

export interface PromptFile {
  name: string;
  /** The file's path relative to the folder it was read from, with `/` separators. */
  file: string;
  content: PromptFileContent;
  /** Where a template error's line (1-based, counted in the template or its chat message) is in the file. */
  fileLineOf(line: number, messageIndex?: number): number | null;
}

/** All the problems found in a folder of prompt files, one line each (`file:line: what`). */
export class PromptFilesError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
  }
}

/** Reads every prompt file under `dir`, sorted by name. Problems in any file fail the whole read, all of them named. */
export async function readPromptFiles(dir: string): Promise<PromptFile[]> {
  let entries: string[];
  try {
    entries = await readdir(dir, { recursive: true });
  } catch (err) {
    throw new PromptFilesError([`cannot read the folder ${dir}: ${(err as Error).message}`]);
  }
  const problems: string[] = [];
  const files: PromptFile[] = [];
  const seen = new Map<string, string>();
  for (const entry of entries.map((e) => e.split(path.sep).join("/")).sort()) {
    const suffix = SUFFIXES.find((s) => entry.endsWith(s));
    if (!suffix) continue;
    const name = entry.slice(0, -suffix.length);
    if (!PROMPT_NAME_PATTERN.test(name) || name.length > 255) {
      problems.push(
        `${entry}: '${name}' is not a prompt name (folder segments of letters, digits, '.', '_' or '-', at most 255 characters)`,
      );
      continue;
    }
    const twin = seen.get(name);
    if (twin) {
      problems.push(`${entry}: the prompt '${name}' is also defined by ${twin}`);
      continue;
    }
    seen.set(name, entry);
    const text = await readFile(path.join(dir, entry));
    if (text.length > MAX_FILE_BYTES) {
      problems.push(`${entry}: ${text.length} bytes; a prompt file may have at most ${MAX_FILE_BYTES}`);
      continue;
    }
    const parsed = parsePromptFile(entry, text.toString("utf8"));
    if ("problems" in parsed) problems.push(...parsed.problems);
    else files.push({ name, file: entry, ...parsed });
  }
  if (problems.length) throw new PromptFilesError(problems);
  return files;
}

function parsePromptFile(
  file: string,
  text: string,
): { content: PromptFileContent; fileLineOf: PromptFile["fileLineOf"] } | { problems: string[] } {
  const lines = new LineCounter();
  // YAML 1.2's core schema: `no` and `on` are strings, as a reader of a prompt expects. Aliases are few in a prompt
  // file and each is expanded once per use: the limit keeps a "billion laughs" file from filling the memory.
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const at = (offset: number) => lines.linePos(offset).line;
  if (doc.errors.length)
    return { problems: doc.errors.map((e) => `${file}:${at(e.pos[0])}: ${e.message.split("\n", 1)[0]}`) };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 50 });
  } catch (err) {
    return { problems: [`${file}: ${(err as Error).message}`] };
  }
  const result = PromptFileSchema.safeParse(value);
  if (!result.success)
    return {
      problems: result.error.issues.map((issue) => {
        const node = doc.getIn(issue.path as (string | number)[], true) as Node | undefined;
        const where = node?.range ? `:${at(node.range[0])}` : "";
        const field = issue.path.length ? `${issue.path.join(".")}: ` : "";
        // zod names a missing union "Invalid input"; say what is expected.
        const missing = issue.path.length === 1 && issue.path[0] === "template" && doc.get("template") === undefined;
        return `${file}${where}: ${field}${missing ? "required: the prompt's text, or a list of chat messages" : issue.message}`;
      }),
    };
  const templateNode = doc.get("template", true) as Node | undefined;
  return {
    content: result.data,
    fileLineOf: (line, messageIndex) => {
      const node =
        messageIndex === undefined || !isSeq(templateNode)
          ? templateNode
          : (doc.getIn(["template", messageIndex, "content"], true) as Node | undefined);
      // Exact for block scalars (`|`, what export writes): their text starts on the line after the indicator.
      // A quoted or plain scalar may fold lines, so its lines are not the template's.
      if (!isScalar(node) || !node.range) return null;
      const type = (node as Scalar).type;
      if (type !== "BLOCK_LITERAL") return line === 1 ? at(node.range[0]) : null;
      return at(node.range[0]) + line;
    },
  };
}

/** The file for a version: what a push of it would publish unchanged. */
export function formatPromptFile(version: PromptVersion, meta: { description: string; tags: string[] }): string {
  const content: Record<string, unknown> = {};
  if (meta.description) content.description = meta.description;
  if (meta.tags.length) content.tags = meta.tags;
  if (Object.keys(version.config).length) content.config = version.config;
  if (version.variablesSchema) content.variablesSchema = version.variablesSchema;
  content.template = version.template satisfies Template;
  // Block scalars for text that spans lines, so a template reads in the file as it renders; no line folding, so
  // every line of the file is a line of the template.
  return stringify(content, { lineWidth: 0, blockQuote: "literal" });
}

/** Writes the file for `name` under `dir`, through a temporary file renamed over it (never half a file). */
export async function writePromptFile(dir: string, name: string, text: string): Promise<string> {
  const file = path.join(dir, `${name}${PROMPT_FILE_SUFFIX}`);
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, text);
  await rename(temp, file);
  return path.relative(dir, file).split(path.sep).join("/");
}
