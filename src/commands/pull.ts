// `promptreg pull`: writes a snapshot of prompts for the client's `snapshot` option.
import { rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { pullSnapshot } from "@promptreg/client";
import { KEY_ON_COMMAND_LINE, UsageError, type Command } from "./common.js";

export const pull: Command = async ({ args, io }) => {
  const { values, positionals } = parseArgs({
    args,
    options: { url: { type: "string" }, key: { type: "string" }, out: { type: "string" } },
    allowPositionals: true,
    strict: true,
  });
  if (values.key !== undefined) throw new UsageError(KEY_ON_COMMAND_LINE);
  const apiKey = io.env.PROMPTREG_API_KEY;
  if (!values.url) throw new UsageError("--url is required");
  if (!values.out) throw new UsageError("--out is required");
  if (!apiKey) throw new UsageError("an API key is required in PROMPTREG_API_KEY");
  if (positionals.length === 0) throw new UsageError("name at least one prompt (name or name:ref)");
  const snapshot = await pullSnapshot({ baseUrl: values.url, apiKey, refs: positionals });
  // Written next to the target and renamed over it, so a reader never sees half a file.
  const out = path.resolve(values.out);
  const temp = `${out}.${process.pid}.tmp`;
  try {
    await writeFile(temp, `${JSON.stringify(snapshot, null, 2)}\n`);
    await rename(temp, out);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  io.out(
    `wrote ${out}: ${snapshot.entries.length} prompt${snapshot.entries.length === 1 ? "" : "s"} from ${snapshot.baseUrl}`,
  );
  for (const entry of snapshot.entries) io.out(`  ${entry.name}:${entry.ref} -> ${entry.version.version}`);
  return 0;
};
