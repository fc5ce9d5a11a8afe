#!/usr/bin/env node
// The `promptreg` process: runs a command (commands.ts) and exits with its code, or keeps `serve` running until a
// signal. The only place (with config.ts) that reads the environment or exits the process.
import { runCli } from "./commands.js";
import { flushLogger } from "./logger.js";

const result = await runCli(process.argv.slice(2), {
  env: process.env,
  out: (text) => console.log(text),
  err: (text) => console.error(text),
});
if (typeof result === "number") {
  // One-shot commands exit explicitly: the WASM schema engine leaves a timer (its lock timeout) scheduled for about
  // 10 s after a migration, which would otherwise keep the process alive doing nothing.
  process.exit(result);
}
const { running, logger } = result;
const shutdown = (signal: string) => {
  logger.info({ signal }, "shutting down");
  running.stop().then(
    () => {
      flushLogger(logger);
      process.exit(0);
    },
    (err: unknown) => {
      logger.error({ err }, "shutdown failed");
      flushLogger(logger);
      process.exit(1);
    },
  );
};
process.once("SIGTERM", () => shutdown("SIGTERM"));
process.once("SIGINT", () => shutdown("SIGINT"));
