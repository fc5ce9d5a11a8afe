// `promptreg export`: writes each prompt of the registry to a folder as a prompt file.
import { parseArgs } from "node:util";
import { LATEST_LABEL } from "@promptreg/client/contract";
import { exportPrompts } from "../prompt-files/sync.js";
import { KEY_ON_COMMAND_LINE, remoteApi, UsageError, type Command } from "./common.js";

export const exportCommand: Command = async ({ args, io }) => {
  const { values, positionals } = parseArgs({
    args,
    options: {
      url: { type: "string" },
      key: { type: "string" },
      prefix: { type: "string" },
      ref: { type: "string", default: LATEST_LABEL },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.key !== undefined) throw new UsageError(KEY_ON_COMMAND_LINE);
  if (positionals.length !== 1) throw new UsageError("export takes the folder to write the prompt files to");
  if (!values.url) throw new UsageError("--url is required");
  const outcome = await exportPrompts({
    api: remoteApi(values.url, io.env.PROMPTREG_API_KEY),
    dir: positionals[0]!,
    prefix: values.prefix,
    ref: values.ref,
  });
  for (const w of outcome.written) io.out(`wrote ${w.file} (${w.version})`);
  for (const s of outcome.skipped) io.out(`skipped ${s.name}: ${s.reason}`);
  io.out(`${outcome.written.length} prompt file(s) written to ${positionals[0]}`);
  if (outcome.written.length === 0 && outcome.skipped.length > 0) {
    io.err("promptreg: no prompt file written: every prompt was skipped (is --ref right?)");
    return 1;
  }
  return 0;
};
