// The `promptreg` commands, as a function of the arguments, the environment and two output streams: cli.ts runs them
// as the process; tests call them in-process.
import { loadConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { type CliIo, type Command, reportFailure, type Serving, USAGE, UsageError } from "./commands/common.js";
import { create } from "./commands/create.js";
import { dataset } from "./commands/dataset.js";
import { experiment } from "./commands/experiment.js";
import { exportCommand } from "./commands/export.js";
import { migrate } from "./commands/migrate.js";
import { pull } from "./commands/pull.js";
import { push } from "./commands/push.js";
import { rollout } from "./commands/rollout.js";
import { serve } from "./commands/serve.js";

export type { CliIo, Serving } from "./commands/common.js";

/** One file per command in commands/; `keys` and `projects` share theirs. */
const COMMANDS = new Map<string, Command>([
  ["serve", serve],
  ["migrate", migrate],
  ["keys", (ctx) => create("keys", ctx)],
  ["projects", (ctx) => create("projects", ctx)],
  ["pull", pull],
  ["push", push],
  ["export", exportCommand],
  ["dataset", dataset],
  ["experiment", experiment],
  ["rollout", rollout],
]);

/**
 * Runs one command. Resolves with its exit code (2 for wrong usage or configuration, explained on `err`; 1 for a
 * failure; `push --check` has its own, see USAGE), or, for `serve`, with the server it started.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number | Serving> {
  try {
    return await run(argv, io);
  } catch (err) {
    return reportFailure(err, io);
  }
}

async function run(argv: string[], io: CliIo): Promise<number | Serving> {
  const [command, ...args] = argv;
  if (!command || command === "help" || command === "--help") {
    io.out(USAGE);
    return command ? 0 : 2;
  }
  const config = loadConfig(io.env);
  const logger = createLogger(config.logLevel);
  const handler = COMMANDS.get(command);
  if (!handler) throw new UsageError(`unknown command: ${command}`);
  return handler({ args, io, config, logger });
}
