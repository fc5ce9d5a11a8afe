#!/usr/bin/env node
// The `promptreg` command. The only place (with config.ts) that reads the environment or exits the process.
import { parseArgs } from "node:util";
import { RoleSchema } from "@promptreg/client/contract";
import { createAuthService } from "./auth/auth.service.js";
import { ConfigError, loadConfig, type Config } from "./config.js";
import { openDatabase } from "./db/client.js";
import { createInvalidationBus } from "./db/invalidation.js";
import { createLogger } from "./logger.js";
import { startServer } from "./server.js";

const USAGE = `usage: promptreg <command>

  serve                                        start the service (applies migrations first)
  migrate                                      apply pending migrations and exit
  keys create --name N --role read|write|admin [--project P]
                                               create an API key (printed once)
  projects create --name N                     create a project and its first admin key

Configuration comes from the environment: DATABASE_URL (a PostgreSQL server; otherwise the embedded database
in PROMPTREG_DATA_DIR, default ./.promptreg), PORT (4000), HOST (127.0.0.1), PROMPTREG_ADMIN_KEY, LOG_LEVEL.`;

class UsageError extends Error {}

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
      const shutdown = (signal: string) => {
        logger.info({ signal }, "shutting down");
        running.stop().then(
          () => process.exit(0),
          (err) => {
            logger.error({ err }, "shutdown failed");
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
      return withDatabase(config, async (database) => {
        const bus = await createInvalidationBus(database, logger);
        const auth = createAuthService({ db: database.prisma, bus });
        try {
          if (command === "projects" && sub === "create") {
            const { project, adminKey } = await auth.createProject(values.name!);
            console.log(JSON.stringify({ project, adminKey }, null, 2));
            return 0;
          }
          if (command === "keys" && sub === "create") {
            const role = RoleSchema.safeParse(values.role);
            if (!role.success) throw new UsageError("--role must be read, write or admin");
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
    default:
      throw new UsageError(`unknown command: ${command}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || err instanceof ConfigError) {
      console.error(`promptreg: ${err.message}\n\n${USAGE}`);
      process.exitCode = 2;
    } else {
      const e = err as { code?: string; message?: string };
      console.error(`promptreg: ${e.code === "P2002" ? "already exists" : (e.message ?? String(err))}`);
      process.exitCode = 1;
    }
  },
);
