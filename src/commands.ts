// The `promptreg` commands, as a function of the arguments, the environment and two output streams: cli.ts runs them
// as the process; tests call them in-process.
import { rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { pullSnapshot } from "@promptreg/client";
import { LABEL_NAME_PATTERN, LATEST_LABEL, LabelNameSchema, RoleSchema } from "@promptreg/client/contract";
import type { Logger } from "pino";
import { createAdminClient, type AdminClient } from "./admin-client.js";
import { createAuthService } from "./auth/auth.service.js";
import { ConfigError, loadConfig, type Config } from "./config.js";
import { openDatabase } from "./db/client.js";
import { createInvalidationBus } from "./db/invalidation.js";
import { AppError } from "./http/errors.js";
import { checkSettableLabel } from "./labels/labels.service.js";
import { createLogger } from "./logger.js";
import { PromptFilesError, readPromptFiles } from "./prompt-files/files.js";
import {
  applyPush,
  exportPrompts,
  isPending,
  planPush,
  PushInterruptedError,
  type PlannedPrompt,
  type PushOptions,
} from "./prompt-files/sync.js";
import { startServer, type RunningServer } from "./server.js";

const USAGE = `usage: promptreg <command>

  serve                                        start the service (applies migrations first)
  migrate                                      apply pending migrations and exit
  keys create --name N --role read|write|admin [--project P] [--url URL]
                                               create an API key (printed once)
  projects create --name N [--url URL]         create a project and its first admin key
  pull --url URL --out FILE name[:ref] ...
                                               write a snapshot of prompts for the client's \`snapshot\` option;
                                               ref defaults to production, e.g. support/triage:staging, a:1.4.2,
                                               a:production@2026-11-01T12:00:00Z
  push DIR --url URL [--label L]... [--message M] [--dry-run | --check]
                                               publish the prompt files in DIR (<name>.prompt.yaml) whose
                                               content differs from the prompt's highest version, or whose
                                               description or tags differ from the prompt's, and point each
                                               --label at the pushed version; --dry-run shows the plan;
                                               --check (for CI) exits 0 when the registry matches the files,
                                               1 when anything differs, 3 when it cannot tell (a problem in
                                               a file, a server that does not answer)
  export DIR --url URL [--prefix FOLDER] [--ref REF]
                                               write each prompt (its highest version, or REF) to DIR as
                                               <name>.prompt.yaml; exits 1 when every prompt lacks REF

Without --url, keys and projects open the database themselves (not while a server holds the embedded database's
data folder). With --url they go through that running server's API, as the admin key in PROMPTREG_API_KEY: keys
are created in that key's project; projects need an admin key of the 'default' project. pull, push and export
always go through a server, as the key in PROMPTREG_API_KEY (push needs a write key). Keys are read only from
PROMPTREG_API_KEY, never from the command line: npm prints the command it runs, and shells keep a history.

Configuration comes from the environment: DATABASE_URL (a PostgreSQL server; otherwise the embedded database
in PROMPTREG_DATA_DIR, default ./.promptreg), PORT (4000), HOST (127.0.0.1), PROMPTREG_ADMIN_KEY, LOG_LEVEL.`;

class UsageError extends Error {}

const KEY_ON_COMMAND_LINE =
  "refusing --key: a key on the command line is printed by npm (and kept in shell history); set PROMPTREG_API_KEY instead";

async function withDatabase<T>(
  config: Config,
  command: string,
  fn: (db: Awaited<ReturnType<typeof openDatabase>>) => Promise<T>,
): Promise<T> {
  const database = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: 2,
    owner: { command },
  });
  try {
    await database.migrate();
    return await fn(database);
  } finally {
    await database.close();
  }
}

/** The API of the server at --url, as the key in PROMPTREG_API_KEY (`role` says which key the command needs). */
function remoteApi(url: string, apiKey: string | undefined, role = "an API key"): AdminClient {
  if (!/^https?:\/\/[^/]/.test(url) || !URL.canParse(url))
    throw new UsageError(`--url must be the running server's address, e.g. http://127.0.0.1:4000; got '${url}'`);
  if (!apiKey)
    throw new UsageError(`--url needs ${role} in PROMPTREG_API_KEY (it is never read from the command line)`);
  return createAdminClient({ url, apiKey });
}

/**
 * One line of a push's plan: `~ support/triage 1.2.0 -> 1.3.0 (minor: ...); new tags; staging: 1.2.0 -> 1.3.0`.
 */
function describeStep(step: PlannedPrompt): string {
  const head =
    step.change === "new"
      ? `+ ${step.name} ${step.to} (new prompt)`
      : step.change === "changed"
        ? `~ ${step.name} ${step.from} -> ${step.to} (${step.bump!.bump}: ${step.bump!.reasons.join("; ")})`
        : `= ${step.name} ${step.to} (unchanged)`;
  const fields = step.newFields.length ? [`new ${step.newFields.join(" and ")}`] : [];
  const moves = step.labelMoves.length
    ? [step.labelMoves.map((m) => `${m.label}: ${m.from ?? "none"} -> ${step.to}`).join(", ")]
    : [];
  return [head, ...fields, ...moves].join("; ");
}

/** `push --check`'s answer when it cannot tell (a problem in a file, a server away): 1 is "the registry differs". */
const CHECK_CANNOT_TELL = 3;

/** A problem line, its further lines (a Handlebars parse error spans three) indented under it. */
const indented = (text: string) => `  ${text.split("\n").join("\n    ")}`;

export interface CliIo {
  env: NodeJS.ProcessEnv;
  /** Standard output, one call per line or block. */
  out(text: string): void;
  /** Standard error. */
  err(text: string): void;
}

/** What `serve` leaves running: the caller stops it (on a signal, for the process). */
export interface Serving {
  running: RunningServer;
  logger: Logger;
}

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

/** Says on `err` what went wrong; the exit code for it. */
function reportFailure(err: unknown, io: CliIo): number {
  if (err instanceof UsageError || err instanceof ConfigError) {
    io.err(`promptreg: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (err instanceof PromptFilesError) {
    io.err(`promptreg: nothing was pushed; fix these first:\n${err.problems.map(indented).join("\n")}`);
    return 1;
  }
  if (err instanceof PushInterruptedError) {
    const names = (steps: PlannedPrompt[]) => steps.map((s) => s.name).join(", ") || "none";
    io.err(
      [
        `promptreg: ${err.message.split("\n").join("\n    ")}`,
        `  pushed: ${err.pushed.map((p) => `${p.step.name} ${p.version}`).join(", ") || "none"}`,
        `  failed: ${err.failed.name}`,
        `  not tried: ${names(err.notTried)}`,
        "pushing again is safe: a prompt already as its file publishes nothing",
      ].join("\n"),
    );
    return 1;
  }
  // Services say what already exists themselves (a 409 AppError, e.g. "project 'x' already exists").
  io.err(`promptreg: ${err instanceof Error ? err.message : String(err)}`);
  return 1;
}

/** The address a person opens: a wildcard host is reachable on loopback. */
function consoleUrl(host: string, port: number): string {
  const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  return `http://${shown.includes(":") ? `[${shown}]` : shown}:${port}/`;
}

async function run(argv: string[], io: CliIo): Promise<number | Serving> {
  const [command, sub, ...rest] = argv;
  if (!command || command === "help" || command === "--help") {
    io.out(USAGE);
    return command ? 0 : 2;
  }
  const config = loadConfig(io.env);
  const logger = createLogger(config.logLevel);

  switch (command) {
    case "serve": {
      const running = await startServer(config, logger);
      io.out(`\npromptreg console: ${consoleUrl(config.host, running.port)}  (sign in with an API key)\n`);
      return { running, logger };
    }
    case "migrate": {
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
    }
    case "keys":
    case "projects": {
      const { values } = parseArgs({
        args: rest,
        options: {
          name: { type: "string" },
          role: { type: "string" },
          project: { type: "string" },
          url: { type: "string" },
          key: { type: "string" },
        },
        strict: true,
      });
      if (values.key !== undefined) throw new UsageError(KEY_ON_COMMAND_LINE);
      if (sub !== "create") throw new UsageError(`unknown command: ${command} ${sub ?? ""}`);
      if (!values.name) throw new UsageError("--name is required");
      const role = RoleSchema.safeParse(values.role);
      if (command === "keys" && !role.success) throw new UsageError("--role must be read, write or admin");
      if (values.url !== undefined) {
        if (values.project !== undefined)
          throw new UsageError(
            "--project does not go with --url: the key is created in the project of the admin key in PROMPTREG_API_KEY",
          );
        const server = remoteApi(values.url, io.env.PROMPTREG_API_KEY, "an admin key");
        const created =
          command === "keys"
            ? await server.post("/keys", { name: values.name, role: role.data })
            : await server.post("/projects", { name: values.name });
        io.out(JSON.stringify(created, null, 2));
        return 0;
      }
      return withDatabase(config, `promptreg ${command} ${sub}`, async (database) => {
        const bus = await createInvalidationBus(database, logger);
        const auth = createAuthService({ db: database.prisma, bus });
        try {
          if (command === "projects") {
            const { project, adminKey } = await auth.createProject(values.name!);
            io.out(JSON.stringify({ project, adminKey }, null, 2));
            return 0;
          }
          const projectName = values.project ?? "default";
          const project = await auth.findProject(projectName);
          if (!project) throw new UsageError(`no project named '${projectName}'`);
          io.out(JSON.stringify(await auth.createKey(project.id, values.name!, role.data!), null, 2));
          return 0;
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
    }
    case "push": {
      const { values, positionals } = parseArgs({
        args: argv.slice(1),
        options: {
          url: { type: "string" },
          key: { type: "string" },
          label: { type: "string", multiple: true },
          message: { type: "string" },
          "dry-run": { type: "boolean" },
          check: { type: "boolean" },
        },
        allowPositionals: true,
        strict: true,
      });
      if (values.key !== undefined) throw new UsageError(KEY_ON_COMMAND_LINE);
      if (positionals.length !== 1) throw new UsageError("push takes one folder of prompt files");
      if (!values.url) throw new UsageError("--url is required");
      if (values["dry-run"] && values.check) throw new UsageError("--dry-run and --check do not go together");
      const labels = values.label ?? [];
      for (const label of labels) {
        if (!LabelNameSchema.safeParse(label).success)
          throw new UsageError(`--label '${label}' is not a label name (${LABEL_NAME_PATTERN.source})`);
        // Said once here rather than by the server once per file (`latest`, a label that reads as a version).
        try {
          checkSettableLabel(label);
        } catch (err) {
          if (err instanceof AppError) throw new UsageError(`--label: ${err.message}`);
          throw err;
        }
      }
      const api = remoteApi(values.url, io.env.PROMPTREG_API_KEY);
      let options: PushOptions;
      let plan: PlannedPrompt[];
      try {
        options = { api, files: await readPromptFiles(positionals[0]!), labels, commitMessage: values.message };
        if (options.files.length === 0) throw new UsageError(`no prompt files (*.prompt.yaml) in ${positionals[0]}`);
        plan = await planPush(options);
      } catch (err) {
        if (!values.check || err instanceof UsageError) throw err;
        reportFailure(err, io);
        return CHECK_CANNOT_TELL;
      }
      for (const step of plan) io.out(describeStep(step));
      const pending = plan.filter(isPending).length;
      const counts = (["new", "changed", "unchanged"] as const)
        .map((change) => `${plan.filter((s) => s.change === change).length} ${change}`)
        .join(", ");
      if (values.check) {
        io.out(
          `${counts}: ${pending ? `${pending} prompt(s) differ from their files` : "the registry matches the files"}`,
        );
        return pending ? 1 : 0;
      }
      if (values["dry-run"] || pending === 0) {
        io.out(`${counts}: ${pending ? "nothing published (dry run)" : "nothing to publish"}`);
        return 0;
      }
      // A line per prompt once it is published, so a push that stops midway has said how far it got.
      await applyPush(options, plan, ({ step, version }) => {
        io.out(`pushed ${step.name} ${version}`);
        if (version !== step.to)
          io.err(
            `promptreg: warning: ${step.name} was pushed as ${version}, not ${step.to} as planned: another version was published in between`,
          );
      });
      io.out(`${counts}: pushed`);
      return 0;
    }
    case "export": {
      const { values, positionals } = parseArgs({
        args: argv.slice(1),
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
    }
    default:
      throw new UsageError(`unknown command: ${command}`);
  }
}
