// `promptreg serve`: starts the service (migrations first) and says where its console is.
import { startServer } from "../server.js";
import type { Command } from "./common.js";

/** The address a person opens: a wildcard host is reachable on loopback. */
function consoleUrl(host: string, port: number): string {
  const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  return `http://${shown.includes(":") ? `[${shown}]` : shown}:${port}/`;
}

export const serve: Command = async ({ io, config, logger }) => {
  const running = await startServer(config, logger);
  io.out(`\npromptreg console: ${consoleUrl(config.host, running.port)}  (sign in with an API key)\n`);
  return { running, logger };
};
