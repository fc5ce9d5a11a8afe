// The `promptreg serve` command as a user runs it: a real process, first-start bootstrap, restart, SIGTERM.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "./helpers/harness.js";

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
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "serve"], {
    cwd: root,
    env: { PATH: process.env.PATH!, PORT: "0", PROMPTREG_DATA_DIR: dataDir, LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
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

async function stop(r: Running): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => r.child.on("exit", (code) => resolve(code)));
  r.child.kill("SIGTERM");
  return exited;
}

const call = (r: Running, key: string, method: string, p: string, body?: unknown) =>
  fetch(`http://127.0.0.1:${r.port}${p}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });

describe("promptreg serve", () => {
  it("on the embedded database: generates the admin key once (0600), keeps data across restarts, stops on SIGTERM", async () => {
    const first = await serve({});
    const keyFile = path.join(dataDir, "admin-key");
    const key = (await readFile(keyFile, "utf8")).trim();
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect(first.output()).toContain(key);
    expect((await call(first, key, "POST", "/api/v1/prompts/kept/versions", { template: "kept {{x}}", labels: ["staging"] })).status).toBe(201);
    expect(await stop(first)).toBe(0);
    expect(first.output()).toContain("promptreg stopped");

    const second = await serve({});
    try {
      expect(second.output()).not.toContain(key); // printed on first start only
      const res = await call(second, key, "GET", "/api/v1/prompts/kept/resolve?ref=staging");
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ version: "1.0.0", template: "kept {{x}}" });
      expect((await fetch(`http://127.0.0.1:${second.port}/readyz`)).status).toBe(200);
    } finally {
      expect(await stop(second)).toBe(0);
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
    const body = new TextEncoder().encode(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] }));
    const half = Math.floor(body.length / 2);
    let sentFirstHalf!: () => void;
    const firstHalfSent = new Promise<void>((resolve) => (sentFirstHalf = resolve));
    // The body arrives in two parts with a pause between: SIGTERM lands while the request is being received.
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(body.slice(0, half));
        sentFirstHalf();
        await new Promise((resolve) => setTimeout(resolve, 500));
        controller.enqueue(body.slice(half));
        controller.close();
      },
    });
    const response = fetch(`http://127.0.0.1:${r.port}/v1/traces`, {
      method: "POST",
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json", "Content-Length": String(body.length) },
      body: stream,
      duplex: "half",
    } as RequestInit);
    await firstHalfSent;
    await new Promise((resolve) => setTimeout(resolve, 100));
    const exited = stop(r);
    const res = await response;
    expect(res.status).toBe(200);
    expect(await exited).toBe(0);
    // Stopped accepting: a new connection is refused.
    await expect(fetch(`http://127.0.0.1:${r.port}/healthz`)).rejects.toThrow();
    // And what the in-flight request wrote is there on the next start.
    const again = await serve({ PROMPTREG_DATA_DIR: path.join(dataDir, "shutdown"), PROMPTREG_ADMIN_KEY: key });
    try {
      const stored = await call(again, key, "GET", "/api/v1/traces/4bf92f3577b34da6a3ce929d0e0e4736");
      expect(((await stored.json()) as { spanCount: number }).spanCount).toBe(200);
    } finally {
      expect(await stop(again)).toBe(0);
    }
  });

  it("with PROMPTREG_ADMIN_KEY, on the suite's database (PostgreSQL when TEST_DATABASE_URL is set): data survives a restart", async () => {
    const key = "pr_env_admin_key_for_the_server_test";
    const env: Record<string, string> = testDb.url
      ? { DATABASE_URL: testDb.url, PROMPTREG_ADMIN_KEY: key }
      : { PROMPTREG_DATA_DIR: path.join(dataDir, "second"), PROMPTREG_ADMIN_KEY: key };
    const first = await serve(env);
    expect(first.output()).toContain(testDb.url ? '"database":"postgres"' : '"database":"pglite"');
    expect((await call(first, key, "POST", "/api/v1/prompts/env/versions", { template: "env {{x}}" })).status).toBe(201);
    expect(await stop(first)).toBe(0);
    const second = await serve(env);
    try {
      expect(await (await call(second, key, "GET", "/api/v1/prompts/env/resolve?ref=latest")).json()).toMatchObject({ template: "env {{x}}" });
    } finally {
      expect(await stop(second)).toBe(0);
    }
  });
});
