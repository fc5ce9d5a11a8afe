// Prompt files: a prompt kept in a repository as `<name>.prompt.yaml`, its folders being the name's folders
// (`support/triage.prompt.yaml` is the prompt `support/triage`). A file holds what a publish takes: the template,
// and optionally config, variablesSchema, description and tags.
import { randomBytes } from "node:crypto";
import { constants, type Dirent } from "node:fs";
import { lstat, mkdir, open, readdir, realpath, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import {
  JsonObjectSchema,
  PROMPT_NAME_PATTERN,
  TemplateSchema,
  type PromptVersion,
  type Template,
} from "@promptreg/client/contract";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, stringify, type Node, type Scalar } from "yaml";
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
  const problems: string[] = [];
  const files: PromptFile[] = [];
  const seen = new Map<string, string>();
  for (const { entry, problem } of (await listTree(dir)).sort((a, b) => (a.entry < b.entry ? -1 : 1))) {
    if (problem) {
      problems.push(`${entry}: ${problem}`);
      continue;
    }
    const suffix = SUFFIXES.find((s) => entry.endsWith(s))!;
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
    const text = await readPromptFileText(path.join(dir, entry));
    if (typeof text !== "string") {
      problems.push(`${entry}: ${text.problem}`);
      continue;
    }
    const parsed = parsePromptFile(entry, text);
    if ("problems" in parsed) problems.push(...parsed.problems);
    else files.push({ name, file: entry, ...parsed });
  }
  if (problems.length) throw new PromptFilesError(problems);
  return files;
}

/**
 * The prompt files under `root` (paths relative to it, with `/`), and the entries that look like one but cannot be
 * read as one. Links are not followed: a prompt's name is its path, so a followed link gives a file a second name
 * (and a link to a parent folder endless ones), while a link skipped without a word leaves its prompts out of every
 * push and check unseen; a problem says so, and what to do. Names starting with a dot (`.git`, `.archive`) are
 * skipped, folders included: no prompt name starts with one.
 */
async function listTree(root: string): Promise<{ entry: string; problem?: string }[]> {
  const found: { entry: string; problem?: string }[] = [];
  const visit = async (folder: string): Promise<void> => {
    let children: Dirent[];
    try {
      children = await readdir(path.join(root, folder), { withFileTypes: true });
    } catch (err) {
      if (!folder) throw new PromptFilesError([`cannot read the folder ${root}: ${(err as Error).message}`]);
      found.push({ entry: folder, problem: `cannot read the folder: ${(err as Error).message}` });
      return;
    }
    for (const child of children) {
      if (child.name.startsWith(".")) continue;
      const entry = folder ? `${folder}/${child.name}` : child.name;
      const promptFile = SUFFIXES.some((s) => child.name.endsWith(s));
      if (child.isSymbolicLink()) {
        const target = await stat(path.join(root, entry)).catch(() => null);
        if (target?.isDirectory())
          found.push({ entry, problem: `a link to a folder; ${LINKS_NOT_FOLLOWED}: move the folder here instead` });
        else if (promptFile)
          found.push({ entry, problem: `a link; ${LINKS_NOT_FOLLOWED}: put the file itself here instead` });
      } else if (child.isDirectory()) {
        if (promptFile) found.push({ entry, problem: "a folder, not a prompt file" });
        else await visit(entry);
      } else if (promptFile) found.push(child.isFile() ? { entry } : { entry, problem: "not a regular file" });
    }
  };
  await visit("");
  return found;
}

const LINKS_NOT_FOLLOWED = "push does not follow links (a prompt's name is its path in the folder)";

/**
 * The file's text, or what keeps it from being a prompt file's. The file is opened once, without following a link,
 * and checked and read through that descriptor: a file swapped for a link after the folder was listed is refused,
 * not read through the link.
 */
export async function readPromptFileText(file: string): Promise<string | { problem: string }> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // Non-blocking: a file swapped for a FIFO is refused below (not a regular file) instead of hanging the open.
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP")
      return { problem: `it became a link while push ran; ${LINKS_NOT_FOLLOWED}` };
    return { problem: `cannot read the file: ${(err as Error).message}` };
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) return { problem: "not a regular file" };
    if (info.size > MAX_FILE_BYTES)
      return { problem: `${info.size} bytes; a prompt file may have at most ${MAX_FILE_BYTES}` };
    // Read up to one byte past the limit: a file that grew since its size was taken is caught too.
    const buffer = Buffer.alloc(MAX_FILE_BYTES + 1);
    let size = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, size, buffer.length - size, size);
      if (bytesRead === 0) break;
      size += bytesRead;
      if (size > MAX_FILE_BYTES) return { problem: `over ${MAX_FILE_BYTES} bytes; a prompt file may have no more` };
    }
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(buffer.subarray(0, size));
    } catch {
      return { problem: "not UTF-8 text (save the file as UTF-8)" };
    }
  } catch (err) {
    return { problem: `cannot read the file: ${(err as Error).message}` };
  } finally {
    await handle.close();
  }
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
  const lineOf = (node: unknown) => {
    const range = (node as Node | undefined)?.range;
    return range ? `:${at(range[0])}` : "";
  };
  if (doc.errors.length)
    return { problems: doc.errors.map((e) => `${file}:${at(e.pos[0])}: ${e.message.split("\n", 1)[0]}`) };
  if (doc.contents === null) return { problems: [`${file}: the file is empty`] };
  if (!isMap(doc.contents))
    return {
      problems: [
        `${file}${lineOf(doc.contents)}: the file must be a mapping of fields (template: and optionally description, tags, config, variablesSchema)`,
      ],
    };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 50 });
  } catch (err) {
    return { problems: [`${file}: ${(err as Error).message}`] };
  }
  const problemAt = (where: (string | number)[], message: string) =>
    `${file}${lineOf(doc.getIn(where, true))}: ${where.length ? `${where.join(".")}: ` : ""}${message}`;
  const result = PromptFileSchema.safeParse(value);
  if (!result.success)
    return {
      problems: result.error.issues.map((issue) => {
        const where = issue.path as (string | number)[];
        // zod names a union it cannot match "Invalid input"; say what is expected.
        if (where.length === 1 && where[0] === "template" && issue.code === "invalid_union")
          return problemAt(
            where,
            doc.has("template")
              ? "must be the prompt's text (a string) or a list of chat messages"
              : "required: the prompt's text, or a list of chat messages",
          );
        return problemAt(where, issue.message);
      }),
    };
  // YAML has .nan and .inf; JSON, what a publish is sent as, has neither (JSON.stringify would send null).
  const notJson = [
    ...nonFiniteNumbers(result.data.config, ["config"]),
    ...nonFiniteNumbers(result.data.variablesSchema, ["variablesSchema"]),
  ];
  if (notJson.length)
    return {
      problems: notJson.map(({ where, value }) => {
        const node = doc.getIn(where, true);
        const written = isScalar(node) ? (node as Scalar).source : String(value);
        return problemAt(where, `${written} is not a number JSON can carry`);
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
      if (!isScalar(node) || !node.range) return null;
      const first = at(node.range[0]);
      // An error at the text's end (an unclosed {{#if}}) is on the line after its last newline, which in the file
      // is the next field's (or past the end): the block's last line with text is where a reader looks for it.
      const last = at(lastTextOffset(text, node.range[0], node.range[1]));
      switch ((node as Scalar).type) {
        // Exact for a literal block (`|`, what export writes): its text starts on the line after the indicator.
        case "BLOCK_LITERAL":
          return Math.min(first + line, last);
        // A folded block (`>`) joins lines, so only its first line is known: the one after the indicator.
        case "BLOCK_FOLDED":
          return line === 1 ? Math.min(first + 1, last) : null;
        // A quoted or plain scalar starts on its key's line and may fold lines too.
        default:
          return line === 1 ? first : null;
      }
    },
  };
}

/** Where the last character other than white space is in `text[start, end)`; `start` when there is none. */
function lastTextOffset(text: string, start: number, end: number): number {
  for (let i = end - 1; i > start; i--) if (!/\s/.test(text[i]!)) return i;
  return start;
}

/** The numbers under `value` that JSON cannot carry (NaN, Infinity), and where they are. */
function nonFiniteNumbers(value: unknown, at: (string | number)[]): { where: (string | number)[]; value: number }[] {
  if (typeof value === "number") return Number.isFinite(value) ? [] : [{ where: at, value }];
  if (Array.isArray(value)) return value.flatMap((item, i) => nonFiniteNumbers(item, [...at, i]));
  if (value && typeof value === "object")
    return Object.entries(value).flatMap(([key, item]) => nonFiniteNumbers(item, [...at, key]));
  return [];
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

// File systems allow 255 bytes per name; the prompt-name rules allow 255 characters, so a long name can be no file.
const MAX_FILE_NAME_BYTES = 255;

/** A prompt's file could not be written where its name says; the export goes on with the other prompts. */
export class PromptFileRefused extends Error {}

/**
 * Writes the file for `name` under `dir`: through a temporary file renamed over it, so never half a file. The name
 * comes from a registry, so it is checked against the prompt-name rules before anything touches the disk, and every
 * folder on the way is created or checked one level at a time, never through a link: nothing is written outside
 * `dir`. A name that breaks the rules, a path through a link, or a file name too long for the file system is refused
 * with PromptFileRefused, saying why.
 */
export async function writePromptFile(dir: string, name: string, text: string): Promise<string> {
  if (name.length > 255 || !PROMPT_NAME_PATTERN.test(name))
    throw new PromptFileRefused(`${JSON.stringify(name.slice(0, 300))} is not a prompt name, so it names no file`);
  const segments = name.split("/");
  const fileName = `${segments.pop()!}${PROMPT_FILE_SUFFIX}`;
  const tooLong = [...segments, fileName].find((s) => Buffer.byteLength(s) > MAX_FILE_NAME_BYTES);
  if (tooLong)
    throw new PromptFileRefused(
      `its file name would be ${Buffer.byteLength(tooLong)} bytes long, and file systems allow ${MAX_FILE_NAME_BYTES}: shorten the prompt's name (or a folder of it)`,
    );
  // The folder given is the user's choice (a link there is theirs too); below it, nothing is followed.
  await mkdir(dir, { recursive: true });
  const root = await realpath(dir);
  let folder = root;
  for (const segment of segments) {
    folder = path.join(folder, segment);
    const info = await lstat(folder).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return null;
      throw err;
    });
    if (info === null)
      await mkdir(folder).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "EEXIST") throw err;
      });
    else if (info.isSymbolicLink())
      throw new PromptFileRefused(`${path.relative(root, folder)} is a link; export does not write through links`);
    else if (!info.isDirectory()) throw new PromptFileRefused(`${path.relative(root, folder)} is not a folder`);
  }
  const file = path.join(folder, fileName);
  const existing = await lstat(file).catch(() => null);
  if (existing && !existing.isFile())
    throw new PromptFileRefused(
      `${path.relative(root, file)} is ${existing.isSymbolicLink() ? "a link" : "not a regular file"}; export replaces only regular files`,
    );
  // A new name, created exclusively and never through a link; renamed over the file (a rename replaces a name, it
  // follows no link).
  // Short, so that a file name at the length limit still has a temporary one.
  const temp = path.join(folder, `.promptreg-${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(
    temp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o644,
  );
  try {
    await handle.writeFile(text);
  } catch (err) {
    await handle.close();
    await rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  await rename(temp, file);
  return path.relative(root, file).split(path.sep).join("/");
}
