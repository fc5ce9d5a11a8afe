#!/usr/bin/env node
// The `promptreg` command. The only place (with config.ts) that reads the environment or exits the process.
import { rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { pullSnapshot } from "@promptreg/client";
import { RoleSchema } from "@promptreg/client/contract";
import { createAuthService } from "./auth/auth.service.js";
import { ConfigError, loadConfig, type Config } from "./config.js";
import { openDatabase } from "./db/client.js";
import { createInvalidationBus } from "./db/invalidation.js";
import { createLogger, flushLogger } from "./logger.js";
import { startServer } from "./server.js";

const USAGE = `usage: promptreg <command>

  serve                                        start the service (applies migrations first)
  migrate                                      apply pending migrations and exit
  keys create --name N --role read|write|admin [--project P]
                                               create an API key (printed once)
  projects create --name N                     create a project and its first admin key
  pull --url URL [--key KEY] --out FILE name[:ref] ...
                                               write a snapshot of prompts for the client's \`snapshot\` option;
                                               ref defaults to production, e.g. support/triage:staging, a:1.4.2,
                                               a:production@2026-11-01T12:00:00Z (key: --key or PROMPTREG_API_KEY)

Configuration comes from the environment: DATABASE_URL (a PostgreSQL server; otherwise the embedded database
in PROMPTREG_DATA_DIR, default ./.promptreg), PORT (4000), HOST (127.0.0.1), PROMPTREG_ADMIN_KEY, LOG_LEVEL.`;

class UsageError extends Error {}

/** The address a person opens: a wildcard host is reachable on loopback. */
function consoleUrl(host: string, port: number): string {
  const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  return `http://${shown.includes(":") ? `[${shown}]` : shown}:${port}/`;
}

async function withDatabase<T>(config: Config, fn: (db: Awaited<ReturnType<typeof openDatabase>>) => Promise<T>): Promise<T> {
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 });
  try {
    await database.migrate();
    return await fn(database);
  } finally {
    await database.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  if (!command || command === "help" || command === "--help") {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const config = loadConfig(process.env);
  const logger = createLogger(config.logLevel);

  switch (command) {
    case "serve": {
      const running = await startServer(config, logger);
      console.log(`\npromptreg console: ${consoleUrl(config.host, running.port)}  (sign in with an API key)\n`);
      const shutdown = (signal: string) => {
        logger.info({ signal }, "shutting down");
        running.stop().then(
          () => {
            flushLogger(logger);
            process.exit(0);
          },
          (err) => {
            logger.error({ err }, "shutdown failed");
            flushLogger(logger);
            process.exit(1);
          },
        );
      };
      process.once("SIGTERM", () => shutdown("SIGTERM"));
      process.once("SIGINT", () => shutdown("SIGINT"));
      return -1; // keep running
    }
    case "migrate": {
      const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: 1 });
      try {
        const names = await database.migrate();
        console.log(names.length ? `applied: ${names.join(", ")}` : "database is up to date");
      } finally {
        await database.close();
      }
      return 0;
    }
    case "keys":
    case "projects": {
      const { values } = parseArgs({
        args: rest,
        options: { name: { type: "string" }, role: { type: "string" }, project: { type: "string", default: "default" } },
        strict: true,
      });
      if (!values.name) throw new UsageError("--name is required");
      if (sub !== "create") throw new UsageError(`unknown command: ${command} ${sub ?? ""}`);
      const role = RoleSchema.safeParse(values.role);
      if (command === "keys" && !role.success) throw new UsageError("--role must be read, write or admin");
      return withDatabase(config, async (database) => {
        const bus = await createInvalidationBus(database, logger);
        const auth = createAuthService({ db: database.prisma, bus });
        try {
          if (command === "projects" && sub === "create") {
            const { project, adminKey } = await auth.createProject(values.name!);
            console.log(JSON.stringify({ project, adminKey }, null, 2));
            return 0;
          }
          if (command === "keys" && sub === "create" && role.success) {
            const project = await auth.findProject(values.project!);
            if (!project) throw new UsageError(`no project named '${values.project}'`);
            console.log(JSON.stringify(await auth.createKey(project.id, values.name!, role.data), null, 2));
            return 0;
          }
          throw new UsageError(`unknown command: ${command} ${sub ?? ""}`);
        } finally {
          await bus.close();
        }
      });
    }
    case "pull": {
      const { values, positionals } = parseArgs({
        args: argv.slice(1),
        options: { url: { type: "string" }, key: { type: "string" }, out: { type: "string" } },
        allowPositionals: true,
        strict: true,
      });
      const apiKey = values.key || process.env.PROMPTREG_API_KEY;
      if (!values.url) throw new UsageError("--url is required");
      if (!values.out) throw new UsageError("--out is required");
      if (!apiKey) throw new UsageError("an API key is required: --key or PROMPTREG_API_KEY");
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
      console.log(`wrote ${out}: ${snapshot.entries.length} prompt${snapshot.entries.length === 1 ? "" : "s"} from ${snapshot.baseUrl}`);
      for (const entry of snapshot.entries) console.log(`  ${entry.name}:${entry.ref} -> ${entry.version.version}`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command: ${command}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // One-shot commands exit explicitly: the WASM schema engine leaves a timer (its lock timeout) scheduled for
    // about 10 s after a migration, which would otherwise keep the process alive doing nothing.
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof UsageError || err instanceof ConfigError) {
      console.error(`promptreg: ${err.message}\n\n${USAGE}`);
      process.exit(2);
    } else {
      const e = err as { code?: string; message?: string };
      console.error(`promptreg: ${e.code === "P2002" ? "already exists" : (e.message ?? String(err))}`);
      process.exit(1);
    }
  },
);
