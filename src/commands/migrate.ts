// `promptreg migrate`: applies pending migrations and exits.
import { openDatabase } from "../db/client.js";
import type { Command } from "./common.js";

export const migrate: Command = async ({ io, config }) => {
  const database = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: 1,
    owner: { command: "promptreg migrate" },
  });
  try {
    const names = await database.migrate();
    io.out(names.length ? `applied: ${names.join(", ")}` : "database is up to date");
  } finally {
    await database.close();
  }
  return 0;
};
