// Shared bench helpers: the registry in a child process (so the load generator never shares its event loop) or in
// this one (when the bench also works on its database), load generation and figures.
import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import pg from "pg";
import { pino } from "pino";
import { createApp } from "../dist/src/app.js";
import { createInvalidationBus } from "../dist/src/db/invalidation.js";

/**
 * Forks a server script that sends `{ port }` over IPC once it listens. It inherits this process's environment with
 * `env` over it; a variable `env` sets to undefined is removed (the runner sets BENCH_DATABASE_URL for every bench).
 */
export async function startChild(script, env = {}) {
  const childEnv = { ...process.env, ...env };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete childEnv[name];
  const child = fork(script, [], { env: childEnv, stdio: ["ignore", "ignore", "inherit", "ipc"] });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start in 60 s`)), 60_000);
    child.once("message", (m) => {
      clearTimeout(timer);
      resolve(m.port);
    });
    child.once("exit", (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return {
    port,
    child,
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

const newAdminKey = () => `pr_bench_${randomBytes(16).toString("hex")}`;
const jsonHeaders = (adminKey) => ({ Authorization: `Bearer ${adminKey}`, "Content-Type": "application/json" });

/**
 * The real service as `promptreg serve` runs it (servers/registry.mjs, its job runner started), in a child process,
 * with a new admin key, on the embedded database (a new data folder, removed when it stops) or on `databaseUrl`: its
 * `origin`, its API's URL (`base`), the headers of a JSON request as the admin, `query` on its database, and `stop`.
 */
export async function startRegistry({ databaseUrl, adminKey = newAdminKey(), env = {} } = {}) {
  const child = await startChild(fileURLToPath(new URL("./servers/registry.mjs", import.meta.url)), {
    BENCH_ADMIN_KEY: adminKey,
    // Without databaseUrl, the embedded database, even when the runner has set one for the benches that use it.
    BENCH_DATABASE_URL: databaseUrl,
    ...env,
  });
  let queries = 0;
  return {
    origin: `http://127.0.0.1:${child.port}`,
    base: `http://127.0.0.1:${child.port}/api/v1`,
    adminKey,
    headers: jsonHeaders(adminKey),
    /** Bytes the span tables take in the registry's database. */
    async storedBytes() {
      const answer = once(child.child, "message");
      child.child.send("storage");
      return (await answer)[0].storedBytes;
    },
    /** The registry process's memory (`process.memoryUsage()`) after a full garbage collection. */
    async memory() {
      const answer = new Promise((resolve) => {
        const heard = (m) => {
          if (!m?.memory) return;
          child.child.off("message", heard);
          resolve(m.memory);
        };
        child.child.on("message", heard);
      });
      child.child.send("memory");
      return answer;
    },
    /** The rows of `sql` run by the registry on its database (its query runs on the registry's thread). */
    query(sql) {
      const id = ++queries;
      return new Promise((resolve, reject) => {
        const answered = (m) => {
          if (m?.id !== id) return;
          child.child.off("message", answered);
          if (m.error) reject(new Error(`${sql}: ${m.error}`));
          else resolve(m.rows);
        };
        child.child.on("message", answered);
        child.child.send({ id, sql });
      });
    },
    stop: child.stop,
  };
}

/**
 * The app in this process on `database` (migrated here; closing it is the caller's), with a new admin key and
 * silent logs; `consoleDir` serves a built console. Its `origin`, its API's URL (`base`), the headers of a JSON
 * request as the admin, and `stop`.
 */
export async function startRegistryInProcess(database, { consoleDir } = {}) {
  const logger = pino({ level: "silent" });
  await database.migrate();
  const bus = await createInvalidationBus(database, logger);
  const { app, auth } = createApp({
    config: { bodyLimitBytes: 1 << 20, resolveCacheSize: 1000, ...(consoleDir ? { consoleDir } : {}) },
    database,
    bus,
    logger,
  });
  const adminKey = newAdminKey();
  await auth.bootstrap({ adminKey, dataDir: "/nonexistent", logger });
  const server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    base: `${origin}/api/v1`,
    adminKey,
    headers: jsonHeaders(adminKey),
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await bus.close();
    },
  };
}

/** Requests per second that autocannon sustains against `url`; non-2xx answers make the run fail. */
export async function measure(url, { connections = 10, duration = 5, headers = {} } = {}) {
  const result = await autocannon({ url, connections, duration, headers, pipelining: 1 });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result.requests.average;
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const fmt = (n) => Math.round(n).toLocaleString("en-US");

/** Whether the PostgreSQL server of `url` answers (benches skip it when not). */
export async function postgresReachable(url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Runs `fn` with the URL of a new, empty database on the server of `serverUrl`, dropped afterwards. */
export async function withFreshPostgres(serverUrl, fn) {
  const name = `promptreg_bench_${randomBytes(6).toString("hex")}`;
  const admin = async (sql) => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  try {
    return await fn(url.toString());
  } finally {
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}
