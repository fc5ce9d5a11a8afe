// `promptreg` commands in-process, as the binary runs them, with PROMPTREG_API_KEY set to a key.
import { runCli } from "../../src/commands.js";

/** A runner of commands as `apiKey`: each resolves with its exit code and what it wrote to each stream. */
export function cliAs(apiKey: string) {
  return async (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(args, {
      env: { LOG_LEVEL: "silent", PROMPTREG_API_KEY: apiKey },
      out: (text) => out.push(text),
      err: (text) => err.push(text),
    });
    return { code, out: out.join("\n"), err: err.join("\n") };
  };
}
