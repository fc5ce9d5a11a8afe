// Dataset files, both ways. Import reads a JSONL or CSV body as it arrives (bounded in bytes and time), checks every
// item with the line it came from, and answers all the items or the problems, never part of them. Export writes a
// version's items a page at a time.
//
// JSONL: one item per line, `{"id"?, "variables", "expected"?, "metadata"?}`; blank lines are skipped.
// CSV: a header line, then an item per record. Columns `id`, `expected` (text) and `metadata` (a JSON object) are the
// item's; `variables` may hold a JSON object of variables; every other column is a variable holding the cell's text.
// CSV carries text only: a variable that is a number or an object is exported as its JSON text and comes back as
// that text; JSONL keeps types.
import type { IncomingMessage } from "node:http";
import { StringDecoder } from "node:string_decoder";
import { CsvError, parse as csvParser } from "csv-parse";
import { stringify } from "csv-stringify/sync";
import { AppError } from "../http/errors.js";
import { invalidRequest, type Issue } from "../http/validate.js";
import { type CheckedItem, checkItem, DATASET_LIMITS } from "./items.js";

export const FILE_FORMATS = ["jsonl", "csv"] as const;
export type FileFormat = (typeof FILE_FORMATS)[number];
export const CONTENT_TYPES: Record<FileFormat, string> = { jsonl: "application/x-ndjson", csv: "text/csv" };

/** The format of an import body by its Content-Type, or a 415 naming the two it can be. */
export function formatOf(contentType: string | undefined): FileFormat {
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (type === "application/x-ndjson" || type === "application/jsonl" || type === "application/jsonlines")
    return "jsonl";
  if (type === "text/csv") return "csv";
  throw new AppError(
    "unsupported_media_type",
    `an import body is application/x-ndjson (JSONL) or text/csv, not '${contentType ?? "none"}'`,
  );
}

export interface BodyLimits {
  maxBytes: number;
  /** The whole body within this. */
  timeoutMs: number;
}

/** The body's chunks as they arrive, at most `maxBytes` of them, within `timeoutMs`; else 413 or 408. */
async function* chunksOf(req: IncomingMessage, limits: BodyLimits): AsyncGenerator<Buffer> {
  const declared = Number(req.headers["content-length"]);
  const tooLarge = () => new AppError("payload_too_large", `the file is larger than ${limits.maxBytes} bytes`);
  if (Number.isFinite(declared) && declared > limits.maxBytes) throw tooLarge();
  if (req.headers["content-encoding"] && req.headers["content-encoding"] !== "identity")
    throw new AppError("unsupported_media_type", "send the file uncompressed (no Content-Encoding)");
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new AppError("request_timeout", `the file did not arrive within ${limits.timeoutMs} ms`)),
      limits.timeoutMs,
    );
  });
  expired.catch(() => {});
  const chunks = req[Symbol.asyncIterator]();
  let size = 0;
  try {
    for (;;) {
      const next = await Promise.race([chunks.next(), expired]);
      if (next.done) return;
      const chunk = next.value as Buffer;
      size += chunk.length;
      if (size > limits.maxBytes) throw tooLarge();
      yield chunk;
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Collects items and problems; past maxIssues problems, reading stops. */
class Collector {
  readonly items: { line: number; item: CheckedItem }[] = [];
  readonly issues: Issue[] = [];
  get full() {
    return this.issues.length >= DATASET_LIMITS.maxIssues;
  }
  problem(line: number, message: string) {
    this.issues.push({ path: `body.line.${line}`, message: `line ${line}: ${message}` });
  }
  add(line: number, value: unknown) {
    const checked = checkItem(value, `body.line.${line}`);
    if ("issues" in checked)
      for (const i of checked.issues) this.issues.push({ path: i.path, message: `line ${line}: ${i.message}` });
    else if (this.items.length >= DATASET_LIMITS.maxItems)
      this.problem(line, `more than ${DATASET_LIMITS.maxItems} items: a dataset holds at most that many`);
    else this.items.push({ line, item: checked.item });
  }
}

/**
 * The items of an import body, each with its line; a 422 listing the problems (each naming its line) when there is
 * any, so that nothing of a file with an error is stored.
 */
export async function readItems(
  req: IncomingMessage,
  format: FileFormat,
  limits: BodyLimits,
): Promise<{ line: number; item: CheckedItem }[]> {
  const found = new Collector();
  const chunks = chunksOf(req, limits);
  if (format === "jsonl") await readJsonl(chunks, found);
  else await readCsv(chunks, found);
  // The rest of a refused body is not read: the route answers with Connection: close.
  if (found.issues.length) throw invalidRequest("body", found.issues.slice(0, DATASET_LIMITS.maxIssues));
  if (found.items.length === 0) throw invalidRequest("body", [{ path: "body", message: "the file holds no items" }]);
  return found.items;
}

async function readJsonl(chunks: AsyncGenerator<Buffer>, found: Collector): Promise<void> {
  const decoder = new StringDecoder("utf8");
  let pending = "";
  let line = 0;
  const take = (text: string) => {
    line++;
    const trimmed = text.endsWith("\r") ? text.slice(0, -1) : text;
    if (trimmed.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (err) {
      return found.problem(line, `not JSON (${(err as Error).message})`);
    }
    found.add(line, value);
  };
  for await (const chunk of chunks) {
    pending += decoder.write(chunk);
    let at = pending.indexOf("\n");
    while (at >= 0) {
      take(pending.slice(0, at));
      if (found.full) return;
      pending = pending.slice(at + 1);
      at = pending.indexOf("\n");
    }
    // A line longer than any item may be is refused before it grows further.
    if (pending.length > 2 * DATASET_LIMITS.maxItemBytes)
      return found.problem(line + 1, `longer than ${2 * DATASET_LIMITS.maxItemBytes} characters`);
  }
  pending += decoder.end();
  if (pending !== "") take(pending);
}

const ITEM_COLUMNS = new Set(["id", "expected", "metadata", "variables"]);

async function readCsv(chunks: AsyncGenerator<Buffer>, found: Collector): Promise<void> {
  const parser = csvParser({
    bom: true,
    info: true,
    skip_empty_lines: true,
    max_record_size: 2 * DATASET_LIMITS.maxItemBytes,
  });
  let header: string[] | null = null;
  const record = (cells: string[], line: number) => {
    if (!header) {
      header = cells.map((c) => c.trim());
      const seen = new Set<string>();
      for (const name of header) {
        if (seen.has(name)) found.problem(line, `the column '${name}' appears twice`);
        seen.add(name);
      }
      return;
    }
    if (cells.length !== header.length)
      return found.problem(line, `${cells.length} cells where the header names ${header.length} columns`);
    const item: Record<string, unknown> = {};
    const variables: Record<string, unknown> = {};
    for (const [i, name] of header.entries()) {
      const cell = cells[i]!;
      if (!ITEM_COLUMNS.has(name)) {
        variables[name] = cell;
        continue;
      }
      if (name === "id") {
        if (cell !== "") item.id = cell;
      } else if (name === "expected") item.expected = cell === "" ? null : cell;
      else if (cell !== "") {
        try {
          const parsed: unknown = JSON.parse(cell);
          if (name === "metadata") item.metadata = parsed;
          else if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) Object.assign(variables, parsed);
          else return found.problem(line, "the variables column must hold a JSON object");
        } catch (err) {
          return found.problem(line, `the ${name} column is not JSON (${(err as Error).message})`);
        }
      }
    }
    item.variables = variables;
    found.add(line, item);
  };
  const done = new Promise<void>((resolve, reject) => {
    parser.on("readable", () => {
      for (let r = parser.read(); r !== null; r = parser.read()) {
        // Past the problems a refusal lists, the rest is read and dropped: the parser must reach its end.
        if (found.full) continue;
        const { record: cells, info } = r as { record: string[]; info: { lines: number } };
        record(cells, info.lines);
      }
    });
    parser.on("end", resolve);
    parser.on("error", reject);
  });
  done.catch(() => {});
  try {
    for await (const chunk of chunks) {
      if (found.full) break;
      // A parse error ends the parser without a drain: the wait ends with it.
      if (!parser.write(chunk)) await Promise.race([new Promise((r) => parser.once("drain", r)), done]);
    }
    parser.end();
    await done;
  } catch (err) {
    if (err instanceof CsvError) {
      const lines = (err as CsvError & { lines?: number }).lines;
      return found.problem(lines ?? 0, `not CSV (${err.message})`);
    }
    throw err;
  }
  if (!header) found.problem(1, "the file has no header line");
}

/** A JSONL line for an item. */
export function jsonlLine(item: { id: string; variables: unknown; expected: unknown; metadata: unknown }): string {
  return `${JSON.stringify({ id: item.id, variables: item.variables, expected: item.expected, metadata: item.metadata })}\n`;
}

/** Variable columns a CSV export has at most; a dataset using more names exports as JSONL. */
export const MAX_CSV_COLUMNS = 1_000;

/** The CSV header for items whose variables are named `names`. */
export function csvHeader(names: string[]): string {
  return stringify([["id", ...names, "expected", "metadata"]]);
}

/** A CSV record for an item, its variables in the header's order. */
export function csvLine(
  names: string[],
  item: { id: string; variables: Record<string, unknown>; expected: unknown; metadata: unknown },
): string {
  const text = (v: unknown) => (v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v));
  return stringify([
    [item.id, ...names.map((n) => text(item.variables[n])), text(item.expected), JSON.stringify(item.metadata)],
  ]);
}
