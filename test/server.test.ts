// The `promptreg serve` command as a user runs it: a real process, first-start bootstrap, restart, SIGTERM, and the
// one-owner rule of the embedded data folder. A process is spawned where only a process shows the behaviour (the key
// printed on first start, signals, a lock left by a killed server); the rest runs in-process through runCli and
// startServer, the functions the binary runs.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashKey } from "../src/auth/keys.js";
import { runCli } from "../src/commands.js";
import { loadConfig } from "../src/config.js";
import { openDatabase } from "../src/db/client.js";
import { startServer } from "../src/server.js";
import { createTestDatabase, silentLogger, type TestDatabase } from "./helpers/harness.js";

const root = path.resolve(import.meta.dirname, "..");
let dataDir: string;
let testDb: TestDatabase;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "promptreg-"));
  testDb = await createTestDatabase();
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
  await testDb?.drop();
});

interface Running {
  child: ChildProcess;
  port: number;
  output: () => string;
}

async function serve(env: Record<string, string>): Promise<Running> {
  // stderr joins stdout in the child (one pipe), so the output keeps the order in which the process wrote it.
  const child = spawn(
    "/bin/sh",
    ["-c", 'exec "$0" "$@" 2>&1', process.execPath, "--import", "tsx", "src/cli.ts", "serve"],
    {
      cwd: root,
      env: { PATH: process.env.PATH!, PORT: "0", PROMPTREG_DATA_DIR: dataDir, LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "pipe", "ignore"],
    },
  );
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 'listening' line within 60 s:\n${out}`)), 60_000);
    const check = () => {
      const m = out.match(/"port":(\d+),"msg":"promptreg listening"/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on("data", check);
    child.on("exit", (code) => reject(new Error(`exited with ${code}:\n${out}`)));
  });
  return { child, port, output: () => out };
}

/**
 * A command that is expected to end by itself, in-process. A `serve` that starts instead is stopped and reported as
 * code "listening", so that a wrong start fails the test at once.
 */
async function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | "listening"; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const result = await runCli(args, {
    env: { PORT: "0", PROMPTREG_DATA_DIR: dataDir, LOG_LEVEL: "silent", ...env },
    out: (text) => out.push(text),
    err: (text) => err.push(text),
  });
  if (typeof result !== "number") await result.running.stop();
  return { code: typeof result === "number" ? result : "listening", stdout: out.join("\n"), stderr: err.join("\n") };
}

/** Resolves once the server has written `text`. */
function outputContains(r: Running, text: string): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!r.output().includes(text)) return;
      r.child.stdout!.off("data", check);
      resolve();
    };
    r.child.stdout!.on("data", check);
    check();
  });
}

async function stop(r: Running): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => r.child.on("exit", (code) => resolve(code)));
  r.child.kill("SIGTERM");
  return exited;
}

const call = (server: { port: number }, key: string, method: string, urlPath: string, body?: unknown) =>
  fetch(`http://127.0.0.1:${server.port}${urlPath}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });

describe("promptreg serve", () => {
  it("on the embedded database: generates the admin key once (0600), owns its data folder, keeps data across restarts", async () => {
    const first = await serve({});
    const keyFile = path.join(dataDir, "admin-key");
    const key = (await readFile(keyFile, "utf8")).trim();
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    // The key comes after what announces it, never before a line that points "below" to it.
    const output = first.output();
    expect(output.slice(output.indexOf(key))).not.toMatch(/below/);
    expect(output.slice(0, output.indexOf(key))).toContain(
      "generated the admin key of project 'default'; shown once here",
    );
    expect(
      (await call(first, key, "POST", "/api/v1/prompts/kept/versions", { template: "kept {{x}}", labels: ["staging"] }))
        .status,
    ).toBe(201);

    // One process per data folder: a second server, or an admin command opening the database itself, exits at once
    // naming the owner and the way through its API.
    const url = `http://127.0.0.1:${first.port}`;
    const lockFile = path.join(dataDir, "lock");
    expect(JSON.parse(await readFile(lockFile, "utf8"))).toMatchObject({
      pid: first.child.pid,
      port: first.port,
      url,
      command: "promptreg serve",
    });
    const [secondServer, offline] = await Promise.all([
      run(["serve"]),
      run(["keys", "create", "--name", "ci", "--role", "write"]),
    ]);
    for (const refused of [secondServer, offline]) {
      expect(refused.code, refused.stdout + refused.stderr).toBe(1);
      expect(refused.stderr).toContain(
        `the data folder ${dataDir} is in use by \`promptreg serve\` (pid ${first.child.pid}, serving ${url}`,
      );
      expect(refused.stderr).toContain(`--url ${url} (with an admin key in PROMPTREG_API_KEY)`);
    }
    // Through the server's API instead: the new key works at once, and after a restart.
    const viaApi = await run(["keys", "create", "--name", "ci", "--role", "write", "--url", url], {
      PROMPTREG_API_KEY: key,
    });
    expect(viaApi.code, viaApi.stderr).toBe(0);
    const ciKey = (JSON.parse(viaApi.stdout) as { key: string }).key;
    expect((await call(first, ciKey, "POST", "/api/v1/prompts/ci/versions", { template: "ci {{x}}" })).status).toBe(
      201,
    );

    expect(await stop(first)).toBe(0);
    expect(first.output()).toContain("promptreg stopped");
    expect(existsSync(lockFile)).toBe(false); // released on SIGTERM

    const second = await serve({});
    expect(second.output()).not.toContain(key); // printed on first start only
    const res = await call(second, key, "GET", "/api/v1/prompts/kept/resolve?ref=staging");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ version: "1.0.0", template: "kept {{x}}" });
    expect((await call(second, ciKey, "GET", "/api/v1/prompts/ci/resolve?ref=latest")).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${second.port}/readyz`)).status).toBe(200);

    // Killed outright, the server leaves its lock behind; the next owner (here this process) takes it over.
    const killed = new Promise((resolve) => second.child.on("exit", (_code, signal) => resolve(signal)));
    second.child.kill("SIGKILL");
    expect(await killed).toBe("SIGKILL");
    expect(JSON.parse(await readFile(lockFile, "utf8")).pid).toBe(second.child.pid);
    const database = await openDatabase({ dataDir, owner: { command: "server.test" } });
    try {
      expect(JSON.parse(await readFile(lockFile, "utf8")).pid).toBe(process.pid);
      expect(await database.prisma.apiKey.findUnique({ where: { hash: hashKey(ciKey) } })).toMatchObject({
        name: "ci",
        role: "write",
      });
    } finally {
      await database.close();
    }
    expect(existsSync(lockFile)).toBe(false);
  });

  it("on a busy port fails before creating the data folder or a key, naming the port", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as { port: number }).port;
    const dir = path.join(dataDir, "busy-port");
    try {
      const config = loadConfig({ PORT: String(port), PROMPTREG_DATA_DIR: dir, LOG_LEVEL: "silent" });
      const failed = await startServer(config, silentLogger).then(
        (running) => running.stop(),
        (err: unknown) => err,
      );
      expect(existsSync(dir)).toBe(false);
      expect((failed as Error).message).toBe(
        `port ${port} on 127.0.0.1 is already in use: stop what listens there, or set PORT to a free port`,
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it("on SIGTERM stops accepting but finishes the request in flight, then exits 0", async () => {
    const key = "pr_env_admin_key_for_the_shutdown_test";
    const r = await serve({ PROMPTREG_DATA_DIR: path.join(dataDir, "shutdown"), PROMPTREG_ADMIN_KEY: key });
    const spans = Array.from({ length: 200 }, (_, i) => ({
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: (i + 1).toString(16).padStart(16, "0"),
      name: "s",
      startTimeUnixNano: "1700000000000000000",
      endTimeUnixNano: "1700000000001000000",
    }));
    const body = Buffer.from(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] }));
    const half = Math.floor(body.length / 2);
    // The body is sent in two parts, and SIGTERM lands between them, each step on an event rather than after a pause:
    // the server's "100 Continue" says it has the request, its "shutting down" line that it is stopping.
    const req = httpRequest(`http://127.0.0.1:${r.port}/v1/traces`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${key}`,
        "Content-Type": "application/json",
        "Content-Length": body.length,
        Expect: "100-continue",
      },
    });
    const response = new Promise<IncomingMessage>((resolve, reject) => req.on("response", resolve).on("error", reject));
    await once(req, "continue");
    req.write(body.subarray(0, half));
    const shuttingDown = outputContains(r, '"msg":"shutting down"');
    const exited = stop(r);
    await shuttingDown;
    req.end(body.subarray(half));
    const res = await response;
    res.resume();
    expect(res.statusCode).toBe(200);
    expect(await exited).toBe(0);
    // Stopped accepting: a new connection is refused.
    await expect(fetch(`http://127.0.0.1:${r.port}/healthz`)).rejects.toThrow();
    // And what the in-flight request wrote is in the database.
    const database = await openDatabase({ dataDir: path.join(dataDir, "shutdown"), owner: { command: "server.test" } });
    try {
      expect(await database.prisma.span.count({ where: { traceId: "4bf92f3577b34da6a3ce929d0e0e4736" } })).toBe(200);
    } finally {
      await database.close();
    }
  });

  it("with PROMPTREG_ADMIN_KEY, on the suite's database (PostgreSQL when TEST_DATABASE_URL is set): data survives a restart", async () => {
    const key = "pr_env_admin_key_for_the_server_test";
    const env: Record<string, string> = testDb.url
      ? { DATABASE_URL: testDb.url, PROMPTREG_ADMIN_KEY: key }
      : { PROMPTREG_DATA_DIR: path.join(dataDir, "second"), PROMPTREG_ADMIN_KEY: key };
    // In-process: what the binary's `serve` runs, with the configuration read from these variables.
    const start = () => startServer(loadConfig({ PORT: "0", LOG_LEVEL: "silent", ...env }), silentLogger);
    const first = await start();
    expect(first.database.kind).toBe(testDb.url ? "postgres" : "pglite");
    expect((await call(first, key, "POST", "/api/v1/prompts/env/versions", { template: "env {{x}}" })).status).toBe(
      201,
    );
    await first.stop();
    const second = await start();
    try {
      expect(await (await call(second, key, "GET", "/api/v1/prompts/env/resolve?ref=latest")).json()).toMatchObject({
        template: "env {{x}}",
      });
    } finally {
      await second.stop();
    }
  });
});
