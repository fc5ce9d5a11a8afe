// The `promptreg` command's database subcommands on the suite's database: in-process through runCli (the function
// the binary runs), and once as the real process, for what only the process shows (its exit code and stderr).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashKey } from "../src/auth/keys.js";
import { runCli } from "../src/commands.js";
import { openDatabase } from "../src/db/client.js";
import { createTestDatabase, type TestDatabase } from "./helpers/harness.js";

const root = path.resolve(import.meta.dirname, "..");
let dataDir: string;
let testDb: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "promptreg-cli-"));
  testDb = await createTestDatabase();
  env = {
    PATH: process.env.PATH!,
    PROMPTREG_DATA_DIR: dataDir,
    LOG_LEVEL: "silent",
    ...(testDb.url ? { DATABASE_URL: testDb.url } : {}),
  };
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
  await testDb?.drop();
});

/** One command, as the binary runs it, with what it wrote to each stream. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { env, out: (text) => out.push(text), err: (text) => err.push(text) });
  if (typeof code !== "number") throw new Error(`'${args.join(" ")}' started a server`);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("promptreg CLI", () => {
  it("migrates once, then reports the database up to date", async () => {
    const first = await cli("migrate");
    expect(first.code, first.err).toBe(0);
    expect(first.out).toMatch(/applied: \d+_init/);
    const second = await cli("migrate");
    expect(second.out).toContain("database is up to date");
    expect(existsSync(path.join(dataDir, "lock"))).toBe(false); // the embedded database's lock is released
  });

  it("creates projects and keys whose secrets are stored hashed", async () => {
    const project = await cli("projects", "create", "--name", "cli-team");
    expect(project.code, project.err).toBe(0);
    const created = JSON.parse(project.out);
    expect(created.project.name).toBe("cli-team");
    expect(created.adminKey.key).toMatch(/^pr_/);
    const key = await cli("keys", "create", "--name", "ci", "--role", "write", "--project", "cli-team");
    expect(key.code, key.err).toBe(0);
    const { key: secret, role } = JSON.parse(key.out);
    expect(role).toBe("write");
    expect(existsSync(path.join(dataDir, "lock"))).toBe(false);
    const database = await openDatabase(testDb.url ? { url: testDb.url } : { dataDir });
    try {
      const row = await database.prisma.apiKey.findUnique({
        where: { hash: hashKey(secret) },
        include: { project: true },
      });
      expect(row).toMatchObject({ name: "ci", role: "write", project: { name: "cli-team" } });
    } finally {
      await database.close();
    }
  });

  it("explains wrong usage with exit code 2", async () => {
    const badRole = await cli("keys", "create", "--name", "x", "--role", "root");
    expect(badRole.code).toBe(2);
    expect(badRole.err).toContain("--role must be read, write or admin");
    expect((await cli("keys", "create", "--name", "x", "--role", "read", "--project", "nope")).err).toContain(
      "no project named 'nope'",
    );
    expect((await cli("frobnicate")).code).toBe(2);
    // A key is never taken from the command line, where npm prints it.
    const keyFlag = await cli(
      "keys",
      "create",
      "--name",
      "x",
      "--role",
      "read",
      "--url",
      "http://127.0.0.1:4000",
      "--key",
      "pr_secret_on_the_command_line",
    );
    expect(keyFlag.code).toBe(2);
    expect(keyFlag.err).toContain(
      "refusing --key: a key on the command line is printed by npm (and kept in shell history); set PROMPTREG_API_KEY instead",
    );
    const dup = await cli("projects", "create", "--name", "cli-team");
    expect(dup.code).toBe(1);
    expect(dup.err).toBe("promptreg: project 'cli-team' already exists");
  });

  it("as a process, refuses a bad configuration with exit code 2, listing the problem", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli.ts", "migrate"], {
      cwd: root,
      env: { ...env, PORT: "http", DATABASE_URL: "mysql://x" },
      encoding: "utf8",
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("PORT");
    expect(r.stderr).toContain("DATABASE_URL: must be a postgresql:// URL");
  });
});
