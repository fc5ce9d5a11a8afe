// `promptreg dataset import|export`: a dataset's items from and to a JSONL or CSV file, through a running server.
import { createWriteStream } from "node:fs";
import { readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { DatasetChangeSchema } from "@promptreg/client/contract";
import { ApiError } from "../admin-client.js";
import { KEY_ON_COMMAND_LINE, remoteApi, UsageError, type Command } from "./common.js";

const enc = encodeURIComponent;
const FORMATS = { jsonl: "application/x-ndjson", csv: "text/csv" } as const;
type Format = keyof typeof FORMATS;

/** The file's format: --format, else its extension. */
function formatOf(file: string, given: string | undefined): Format {
  const format = given ?? { ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv" }[path.extname(file).toLowerCase()];
  if (format !== "jsonl" && format !== "csv")
    throw new UsageError(
      given === undefined
        ? `cannot tell the format of ${file} from its extension: pass --format jsonl or --format csv`
        : `--format is jsonl or csv; got '${given}'`,
    );
  return format;
}

export const dataset: Command = async ({ args, io }) => {
  const [action, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      url: { type: "string" },
      key: { type: "string" },
      format: { type: "string" },
      version: { type: "string" },
      replace: { type: "boolean" },
      out: { type: "string" },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.key !== undefined) throw new UsageError(KEY_ON_COMMAND_LINE);
  if (!values.url) throw new UsageError("--url is required");
  const api = remoteApi(values.url, io.env.PROMPTREG_API_KEY);

  if (action === "import") {
    if (positionals.length !== 2) throw new UsageError("dataset import takes the dataset's name and the file");
    const [name, file] = positionals as [string, string];
    const format = formatOf(file, values.format);
    const data = await readFile(file);
    // A dataset that does not exist yet is created (importing a first file is how most start), and removed again
    // when the file is refused: a refused import leaves nothing behind.
    let created = false;
    try {
      await api.get(`/datasets/${enc(name)}`);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      await api.post("/datasets", { name });
      created = true;
    }
    try {
      const answer = DatasetChangeSchema.parse(
        await api.upload(
          `/datasets/${enc(name)}/import${values.replace ? "?replace=true" : ""}`,
          data,
          FORMATS[format],
        ),
      );
      if (created) io.out(`created dataset ${name}`);
      io.out(
        `${name} version ${answer.dataset.version}: ${answer.added} added, ${answer.replaced} replaced, ${answer.removed} removed (${answer.dataset.itemCount} items)`,
      );
      return 0;
    } catch (err) {
      if (created) await api.delete(`/datasets/${enc(name)}`).catch(() => {});
      const issues = (err as ApiError).details as { issues?: { message: string }[] } | undefined;
      if (!(err instanceof ApiError) || !issues?.issues?.length) throw err;
      io.err(`promptreg: nothing was imported from ${file}; fix these first:`);
      for (const issue of issues.issues) io.err(`  ${issue.message}`);
      return 1;
    }
  }

  if (action === "export") {
    if (positionals.length !== 1) throw new UsageError("dataset export takes the dataset's name");
    if (!values.out) throw new UsageError("--out FILE is required (the file to write)");
    const format = formatOf(values.out, values.format);
    if (values.version !== undefined && !/^[1-9]\d{0,8}$/.test(values.version))
      throw new UsageError(`--version is a dataset version number; got '${values.version}'`);
    const query = new URLSearchParams({ format, ...(values.version ? { version: values.version } : {}) });
    const body = await api.download(`/datasets/${enc(positionals[0]!)}/export?${query}`);
    // Written beside the file and renamed when whole: a download cut short leaves an existing file as it was.
    const partial = `${values.out}.${process.pid}.partial`;
    try {
      await pipeline(Readable.fromWeb(body as never), createWriteStream(partial));
      await rename(partial, values.out);
    } finally {
      await rm(partial, { force: true });
    }
    io.out(`wrote ${values.out}`);
    return 0;
  }
  throw new UsageError("dataset takes import or export");
};
