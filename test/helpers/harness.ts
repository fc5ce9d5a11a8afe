// The real app on a real database: in-memory PGlite by default, or a fresh database created on the PostgreSQL
// server named by TEST_DATABASE_URL (dropped afterwards), so test files never share state.
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import pg from "pg";
import request from "supertest";
import { inject } from "vitest";
import type { Role } from "@promptreg/client/contract";
import { type AppDeps, createApp } from "../../src/app.js";
import { openDatabase, type Database } from "../../src/db/client.js";
import { createInvalidationBus, type InvalidationBus } from "../../src/db/invalidation.js";
import { migratedTemplate } from "./pglite-template.js";

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;
export const silentLogger = pino({ level: "silent" });

export interface TestDatabase {
  url?: string;
  open(): Promise<Database>;
  drop(): Promise<void>;
}

/**
 * Where the run's migrated embedded database is kept (global-setup.ts); undefined when a file runs outside the suite's
 * configuration, or in a process of its own (test/helpers/dos-server.ts), where vitest's state is not there to read.
 */
function pgliteTemplate(): string | undefined {
  try {
    return inject("pgliteTemplate");
  } catch {
    return undefined;
  }
}

/** A fresh database for one test file: empty, or on the embedded database a copy of the run's migrated one. */
export async function createTestDatabase(): Promise<TestDatabase> {
  if (!TEST_DATABASE_URL) {
    const template = pgliteTemplate();
    const initialData = template ? new Blob([await migratedTemplate(template)]) : undefined;
    return { open: () => openDatabase({ dataDir: "memory", initialData }), drop: async () => {} };
  }
  const name = `promptreg_t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    open: () => openDatabase({ url: url.toString(), poolSize: 10 }),
    async drop() {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface Harness {
  app: ReturnType<typeof createApp>["app"];
  /** The live-update streams. */
  events: ReturnType<typeof createApp>["events"];
  /** The app's job runner: started when the harness was created with `jobs`. */
  jobs: ReturnType<typeof createApp>["jobs"];
  /** The app's rollouts; its guard runs only when a test calls `tick()`. */
  rollouts: ReturnType<typeof createApp>["rollouts"];
  /** The PostgreSQL database's URL (TEST_DATABASE_URL set): another instance opens it. */
  databaseUrl?: string;
  /** What the app was created with: another instance on the same database is made with the same. */
  appDeps: Omit<AppDeps, "database" | "bus">;
  database: Database;
  bus: InvalidationBus;
  adminKey: string;
  /** Requests with a bearer key. */
  as(key: string): Client;
  /** A new key of the default project (or of `projectAdminKey`'s project). */
  newKey(role: Role, projectAdminKey?: string): Promise<string>;
  close(): Promise<void>;
}

export type Client = ReturnType<typeof client>;

/** Requests to `app` with a bearer key. */
export function client(app: Harness["app"], key: string) {
  const auth = (t: request.Test) => t.set("Authorization", `Bearer ${key}`);
  return {
    get: (path: string) => auth(request(app).get(path)),
    post: (path: string, body?: unknown) => auth(request(app).post(path)).send(body as object),
    put: (path: string, body?: unknown) => auth(request(app).put(path)).send(body as object),
    patch: (path: string, body?: unknown) => auth(request(app).patch(path)).send(body as object),
    delete: (path: string) => auth(request(app).delete(path)),
  };
}

export async function createHarness(
  options: {
    resolveCacheSize?: number;
    consoleDir?: string;
    /** Model connections may target 127.0.0.1 (the tests' fake model servers). */
    allowPrivateConnections?: boolean;
    secrets?: Record<string, string>;
    /** PROMPTREG_CONNECTION_KEYS, parsed. */
    secretProjects?: Record<string, string[]>;
    /** Starts the job runner (evaluations) with these options; without it no background work runs. */
    jobs?: AppDeps["jobs"];
    evalMaxAttempts?: number;
    evalConcurrency?: number;
    /** Limits of the live-update streams. */
    events?: Partial<
      Pick<
        AppDeps["config"],
        "eventsMaxStreams" | "eventsMaxPerKey" | "eventsHeartbeatMs" | "eventsReplaySize" | "eventsMaxBufferBytes"
      >
    >;
    /** The app's clock (rollouts). */
    now?: () => number;
  } = {},
): Promise<Harness> {
  const testDb = await createTestDatabase();
  const database = await testDb.open();
  await database.migrate();
  const bus = await createInvalidationBus(database, silentLogger);
  const appDeps: Harness["appDeps"] = {
    config: {
      bodyLimitBytes: 1024 * 1024,
      resolveCacheSize: options.resolveCacheSize ?? 1000,
      consoleDir: options.consoleDir,
      allowPrivateConnections: options.allowPrivateConnections ?? false,
      secrets: new Map(Object.entries(options.secrets ?? {})),
      secretProjects: new Map(Object.entries(options.secretProjects ?? {}).map(([k, v]) => [k, new Set(v)])),
      ...(options.evalMaxAttempts ? { evalMaxAttempts: options.evalMaxAttempts } : {}),
      ...(options.evalConcurrency ? { evalConcurrency: options.evalConcurrency } : {}),
      ...options.events,
    },
    jobs: options.jobs,
    logger: silentLogger,
    // Every answer a test receives is checked against its route's declared schema.
    checkAnswers: true,
    ...(options.now ? { now: options.now } : {}),
  };
  const { app, auth, jobs, rollouts, events, close: closeApp } = createApp({ ...appDeps, database, bus });
  const adminKey = `pr_test_admin_${randomBytes(16).toString("hex")}`;
  await auth.bootstrap({ adminKey, dataDir: "/nonexistent", logger: silentLogger });
  if (options.jobs) jobs.start();
  const h: Harness = {
    app,
    events,
    jobs,
    rollouts,
    databaseUrl: testDb.url,
    appDeps,
    database,
    bus,
    adminKey,
    as: (key) => client(app, key),
    async newKey(role, projectAdminKey = adminKey) {
      const res = await client(app, projectAdminKey).post("/api/v1/keys", { name: `${role}-key`, role });
      if (res.status !== 201) throw new Error(`cannot create key: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.key as string;
    },
    async close() {
      await closeApp();
      await bus.close();
      await database.close();
      await testDb.drop();
    },
  };
  return h;
}

/** `support/triage` -> `support%2Ftriage` for paths. */
export const enc = (name: string) => encodeURIComponent(name);
