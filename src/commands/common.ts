// What every command shares: the usage text, wrong usage, how failures are reported, and the two ways a command
// reaches a registry (its own database, or a running server's API).
import type { Logger } from "pino";
import { createAdminClient, type AdminClient } from "../admin-client.js";
import { ConfigError, type Config } from "../config.js";
import { openDatabase } from "../db/client.js";
import { PromptFilesError } from "../prompt-files/files.js";
import { PushInterruptedError, type PlannedPrompt } from "../prompt-files/sync.js";
import type { RunningServer } from "../server.js";

export const USAGE = `usage: promptreg <command>

  serve                                        start the service (applies migrations first)
  migrate                                      apply pending migrations and exit
  keys create --name N --role read|write|admin [--project P] [--url URL]
                                               create an API key (printed once)
  projects create --name N [--url URL]         create a project and its first admin key
  pull --url URL --out FILE name[:ref] ...
                                               write a snapshot of prompts for the client's \`snapshot\` option;
                                               ref defaults to production, e.g. support/triage:staging, a:1.4.2,
                                               a:production@2026-11-01T12:00:00Z
  push DIR --url URL [--label L]... [--override REASON] [--message M] [--dry-run | --check]
                                               publish the prompt files in DIR (<name>.prompt.yaml) whose
                                               content differs from the prompt's highest version, or whose
                                               description or tags differ from the prompt's, and point each
                                               --label at the pushed version (through the label's gate;
                                               an admin key may --override it, the reason in the ledger);
                                               --dry-run shows the plan;
                                               --check (for CI) exits 0 when the registry matches the files,
                                               1 when anything differs, 3 when it cannot tell (a problem in
                                               a file, a server that does not answer)
  export DIR --url URL [--prefix FOLDER] [--ref REF]
                                               write each prompt (its highest version, or REF) to DIR as
                                               <name>.prompt.yaml; exits 1 when every prompt lacks REF
  dataset import NAME FILE --url URL [--format jsonl|csv] [--replace]
                                               add (or with --replace, set) a dataset's items from a JSONL or
                                               CSV file, creating the dataset if needed; nothing is stored
                                               from a file with a problem (each named by its line)
  dataset export NAME --url URL --out FILE [--format jsonl|csv] [--version N]
                                               write a dataset version's items (the latest by default)
  experiment run --url URL --dataset D --prompt P --versions BASE,CAND[,...] --connection C
                 [--evaluators E,...] [--model M] [--dataset-version N] [--alpha A] [--fail-on regression]
                                               run the versions on the dataset on the server, wait, and print
                                               each candidate's paired comparison with BASE; with --fail-on
                                               regression, exit 1 when one regressed significantly, failed
                                               more items, or had nothing to compare; 3 when it cannot tell
                                               (a server away, a refused request, a cancelled experiment)
  rollout start NAME --url URL --candidate V --steps 5,25,50,100 [--label L] [--min-duration-ms MS]
                [--min-units N] [--failure F] [--alpha A] [--min-sample N] [--max-p95-increase-ms MS]
                [--max-mean-cost-increase USD] [--no-auto-rollback] [--reason R]
                                               start a guarded rollout of version V on label L (production)
  rollout status|pause|resume|advance|abort NAME --url URL [--label L] [--reason R]
                                               the label's rollout, its arms and the guard's last verdict;
                                               or change it by hand (the reason goes to the label's ledger)

Without --url, keys and projects open the database themselves (not while a server holds the embedded database's
data folder). With --url they go through that running server's API, as the admin key in PROMPTREG_API_KEY: keys
are created in that key's project; projects need an admin key of the 'default' project. pull, push, export,
dataset, experiment and rollout always go through a server, as the key in PROMPTREG_API_KEY (push, dataset
import and experiment run need a write key; changing a rollout, the role that may move its label). Keys are read
only from PROMPTREG_API_KEY, never from the command line: npm prints the command it runs, and shells keep a
history.

Configuration comes from the environment: DATABASE_URL (a PostgreSQL server; otherwise the embedded database
in PROMPTREG_DATA_DIR, default ./.promptreg), PORT (4000), HOST (127.0.0.1), PROMPTREG_ADMIN_KEY, LOG_LEVEL.`;

/** Wrong usage or configuration: exit code 2, with the usage text. */
export class UsageError extends Error {}

export const KEY_ON_COMMAND_LINE =
  "refusing --key: a key on the command line is printed by npm (and kept in shell history); set PROMPTREG_API_KEY instead";

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

/** What a command is given: its arguments after the command's name, the loaded configuration and a logger. */
export interface CommandContext {
  /** Everything after the command's name. */
  args: string[];
  io: CliIo;
  config: Config;
  logger: Logger;
}

/** A command: resolves with its exit code, or, for `serve`, with the server it started. */
export type Command = (ctx: CommandContext) => Promise<number | Serving>;

export async function withDatabase<T>(
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
export function remoteApi(url: string, apiKey: string | undefined, role = "an API key"): AdminClient {
  if (!/^https?:\/\/[^/]/.test(url) || !URL.canParse(url))
    throw new UsageError(`--url must be the running server's address, e.g. http://127.0.0.1:4000; got '${url}'`);
  if (!apiKey)
    throw new UsageError(`--url needs ${role} in PROMPTREG_API_KEY (it is never read from the command line)`);
  return createAdminClient({ url, apiKey });
}

/** A problem line, its further lines (a Handlebars parse error spans three) indented under it. */
const indented = (text: string) => `  ${text.split("\n").join("\n    ")}`;

/** Says on `err` what went wrong; the exit code for it. */
export function reportFailure(err: unknown, io: CliIo): number {
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
