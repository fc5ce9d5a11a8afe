// Configuration is read from the environment once, here, and passed around as a value.
import path from "node:path";
import proxyAddr from "proxy-addr";
import { z } from "zod";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

// OTLP/HTTP recommends accepting 64 MiB after decompression.
export const DEFAULT_OTLP_MAX_BYTES = 64 * 1024 * 1024;
/**
 * OTLP ingest limits when none are configured. The embedded database runs every query on the server's own thread,
 * one at a time: a second ingest in flight would not go faster, it would only make reads wait behind both. Its
 * chunks (one INSERT each, the event loop turning between them) are smaller for the same reason: each holds every
 * other request for as long as it runs (see bench/ingest.mjs for the figures). 512 rows is an OpenTelemetry SDK's
 * default batch: each statement also costs its planning, so a default batch is one chunk.
 */
export const INGEST_DEFAULTS = {
  pglite: { maxInFlight: 1, maxQueued: 32, chunkRows: 512, chunkBytes: 1024 * 1024 },
  postgres: { maxInFlight: 4, maxQueued: 32, chunkRows: 1000, chunkBytes: 4 * 1024 * 1024 },
} as const;
/** Requests of one key admitted at once (reading, waiting or storing); beyond that, 429 and Retry-After. */
export const DEFAULT_INGEST_MAX_PER_KEY = 16;
/** What one OTLP request may make the database store (JSON bytes of its rows, resources and scopes). */
export const DEFAULT_OTLP_MAX_STORED_BYTES = 256 * 1024 * 1024;
/** An OTLP body must arrive within this time, and after OTLP_BODY_GRACE_MS at OTLP_BODY_MIN_RATE bytes/s at least. */
export const DEFAULT_OTLP_BODY_TIMEOUT_MS = 30_000;
export const OTLP_BODY_GRACE_MS = 2_000;
export const OTLP_BODY_MIN_RATE = 32 * 1024;
/** How often the rollout guard looks at each running rollout when PROMPTREG_ROLLOUT_GUARD_INTERVAL_MS is not set. */
export const DEFAULT_ROLLOUT_GUARD_INTERVAL_MS = 60_000;

/**
 * Live-update streams (GET /api/v1/events) when not configured; see src/events/events.service.ts. A stream idle
 * between events costs a socket and a few kilobytes (README, Live updates): the instance cap keeps that bounded, the
 * key cap keeps one key from taking every stream; 250 is a large fleet of one application behind one instance.
 */
export const EVENTS_DEFAULTS = {
  maxStreams: 1_000,
  maxPerKey: 250,
  heartbeatMs: 15_000,
  replaySize: 1_000,
  maxBufferBytes: 64 * 1024,
} as const;

/**
 * Which hops may say the request came over HTTPS (X-Forwarded-Proto) and from whom (X-Forwarded-For): Express's
 * `trust proxy`. `false` (the default) trusts none; `true` every hop (only when nothing can reach the service but
 * through the proxy); a number, that many hops; or a comma-separated list of addresses, subnets and the names
 * loopback, linklocal, uniquelocal.
 */
export type TrustProxy = boolean | number | string[];

const TrustProxySchema = z
  .string()
  .trim()
  .transform((value, ctx): TrustProxy => {
    if (value === "false") return false;
    if (value === "true") return true;
    if (/^\d{1,3}$/.test(value)) return Number(value);
    const entries = value.split(",").map((e) => e.trim());
    // Checked by the library Express compiles them with, one at a time to name each one it refuses.
    const bad = entries.filter((entry) => {
      try {
        proxyAddr.compile(entry);
        return false;
      } catch {
        return true;
      }
    });
    if (bad.length > 0) {
      ctx.addIssue({
        code: "custom",
        message: `not an address, subnet, hop count, true/false, loopback, linklocal or uniquelocal: ${bad.join(", ")}`,
      });
      return z.NEVER;
    }
    return entries;
  });

const ConfigSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  // Loopback by default: exposing the service is a deliberate act (the Dockerfile sets 0.0.0.0).
  HOST: z.string().min(1).default("127.0.0.1"),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgresql:// URL")
    .optional(),
  PROMPTREG_DATA_DIR: z.string().min(1).default("./.promptreg"),
  PROMPTREG_ADMIN_KEY: z.string().min(20, "must be at least 20 characters").optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
  PROMPTREG_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  PROMPTREG_RESOLVE_CACHE_SIZE: z.coerce.number().int().min(0).default(10_000),
  PROMPTREG_DB_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  PROMPTREG_SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  PROMPTREG_OTLP_MAX_BYTES: z.coerce.number().int().positive().default(DEFAULT_OTLP_MAX_BYTES),
  PROMPTREG_OTLP_MAX_STORED_BYTES: z.coerce.number().int().positive().default(DEFAULT_OTLP_MAX_STORED_BYTES),
  PROMPTREG_OTLP_BODY_TIMEOUT_MS: z.coerce.number().int().positive().default(DEFAULT_OTLP_BODY_TIMEOUT_MS),
  PROMPTREG_INGEST_MAX_INFLIGHT: z.coerce.number().int().min(0).optional(),
  PROMPTREG_INGEST_MAX_QUEUED: z.coerce.number().int().min(0).optional(),
  PROMPTREG_INGEST_MAX_PER_KEY: z.coerce.number().int().min(1).default(DEFAULT_INGEST_MAX_PER_KEY),
  PROMPTREG_CONSOLE_DIR: z.string().min(1).optional(),
  PROMPTREG_TRUST_PROXY: TrustProxySchema.default(false),
  PROMPTREG_SECURE_COOKIES: z.enum(["auto", "always"]).default("auto"),
  PROMPTREG_ALLOW_PRIVATE_CONNECTIONS: z
    .enum(["true", "false"], "must be true or false")
    .default("false")
    .transform((v) => v === "true"),
  PROMPTREG_EVAL_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
  PROMPTREG_EVAL_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
  PROMPTREG_EXPERIMENT_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
  PROMPTREG_JOB_LEASE_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(30_000),
  PROMPTREG_EVENTS_MAX_STREAMS: z.coerce.number().int().min(0).default(EVENTS_DEFAULTS.maxStreams),
  PROMPTREG_EVENTS_MAX_PER_KEY: z.coerce.number().int().min(0).default(EVENTS_DEFAULTS.maxPerKey),
  // At most 30 s: clients take a minute without a byte for a dead connection.
  PROMPTREG_EVENTS_HEARTBEAT_MS: z.coerce.number().int().min(100).max(30_000).default(EVENTS_DEFAULTS.heartbeatMs),
  PROMPTREG_EVENTS_REPLAY: z.coerce.number().int().min(0).max(1_000_000).default(EVENTS_DEFAULTS.replaySize),
  PROMPTREG_EVENTS_MAX_BUFFER_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(EVENTS_DEFAULTS.maxBufferBytes),
  PROMPTREG_ROLLOUT_GUARD_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(86_400_000)
    .default(DEFAULT_ROLLOUT_GUARD_INTERVAL_MS),
  // `PROMPTREG_SECRET_A=team-a,team-b;PROMPTREG_SECRET_B=team-c`: the projects each key is for.
  PROMPTREG_CONNECTION_KEYS: z
    .string()
    .default("")
    .transform((text, ctx) => {
      const scopes = new Map<string, ReadonlySet<string>>();
      for (const entry of text
        .split(";")
        .map((e) => e.trim())
        .filter(Boolean)) {
        const [name, projects] = entry.split("=").map((p) => p.trim());
        if (!name?.startsWith("PROMPTREG_SECRET_") || !projects) {
          ctx.addIssue({
            code: "custom",
            message: `'${entry}' must be PROMPTREG_SECRET_<NAME>=<project>[,<project>...]`,
          });
          return z.NEVER;
        }
        scopes.set(
          name,
          new Set(
            projects
              .split(",")
              .map((p) => p.trim())
              .filter(Boolean),
          ),
        );
      }
      return scopes;
    }),
});

export interface Config {
  port: number;
  host: string;
  /** A PostgreSQL server when set; otherwise the embedded database in `dataDir`. */
  databaseUrl?: string;
  dataDir: string;
  adminKey?: string;
  logLevel: (typeof LOG_LEVELS)[number];
  bodyLimitBytes: number;
  resolveCacheSize: number;
  dbPoolSize: number;
  shutdownTimeoutMs: number;
  /** Largest OTLP request body, after decompression. */
  otlpMaxBytes: number;
  /** Most JSON one OTLP request may store; past it the request is refused (413) before anything is stored. */
  otlpMaxStoredBytes: number;
  /** Time an OTLP body may take to arrive. */
  otlpBodyTimeoutMs: number;
  /** OTLP requests processed at once; more wait in a queue of `ingestMaxQueued`, then get 503. See INGEST_DEFAULTS. */
  ingestMaxInFlight: number;
  ingestMaxQueued: number;
  /** OTLP requests of one key admitted at once. */
  ingestMaxPerKey: number;
  /** The built web console; default web/dist in the package. */
  consoleDir?: string;
  /** The proxies whose X-Forwarded-* headers are believed (see TrustProxy). */
  trustProxy: TrustProxy;
  /** `auto`: the session cookie is Secure when the request came over HTTPS (directly or from a trusted proxy). */
  secureCookies: "auto" | "always";
  /** Model connections may target loopback, private and link-local addresses (self-hosted model servers). */
  allowPrivateConnections: boolean;
  /**
   * The PROMPTREG_SECRET_* variables, by name: the only ones a model connection may name as its key's. Read here,
   * once, like every other setting; never logged or answered.
   */
  secrets: ReadonlyMap<string, string>;
  /**
   * The projects each secret is for (PROMPTREG_CONNECTION_KEYS); a secret not listed is for the `default` project
   * only, so that on a shared server no project can send another's key to a server of its own.
   */
  secretProjects: ReadonlyMap<string, ReadonlySet<string>>;
  /** Evaluations one instance runs at once (judge calls are also held to their connection's maxConcurrency). */
  evalConcurrency: number;
  /** Attempts of an evaluation whose judge fails before its result is `error` (and of an experiment's model call). */
  evalMaxAttempts: number;
  /** Experiment items one instance runs at once (their calls are also held to their connection's maxConcurrency). */
  experimentConcurrency: number;
  /**
   * How long a background job's claim holds unless its worker extends it: how soon another instance takes over the
   * work of one that died (on the embedded database, a restart takes it over at once).
   */
  jobLeaseMs: number;
  /** Live-update streams one instance serves at once (see EVENTS_DEFAULTS); 0 refuses every one. */
  eventsMaxStreams: number;
  /** Of those, streams of one key. */
  eventsMaxPerKey: number;
  /** A comment line on every idle stream this often. */
  eventsHeartbeatMs: number;
  /** Events kept for resuming with Last-Event-ID. */
  eventsReplaySize: number;
  /** Unsent bytes a stream may hold before it is cut. */
  eventsMaxBufferBytes: number;
  /** How often the guard evaluates each running rollout (and so how soon it reacts to a worse candidate). */
  rolloutGuardIntervalMs: number;
}

export class ConfigError extends Error {}

/** Environment variables a model connection may name as the one holding its key. */
export const SECRET_PREFIX = "PROMPTREG_SECRET_";

/** Parses the environment; throws ConfigError listing every problem at once. */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const parsed = ConfigSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== "")));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  const ingestDefaults = INGEST_DEFAULTS[e.DATABASE_URL ? "postgres" : "pglite"];
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.PROMPTREG_DATA_DIR),
    adminKey: e.PROMPTREG_ADMIN_KEY,
    logLevel: e.LOG_LEVEL,
    bodyLimitBytes: e.PROMPTREG_BODY_LIMIT_BYTES,
    resolveCacheSize: e.PROMPTREG_RESOLVE_CACHE_SIZE,
    dbPoolSize: e.PROMPTREG_DB_POOL_SIZE,
    shutdownTimeoutMs: e.PROMPTREG_SHUTDOWN_TIMEOUT_MS,
    otlpMaxBytes: e.PROMPTREG_OTLP_MAX_BYTES,
    otlpMaxStoredBytes: e.PROMPTREG_OTLP_MAX_STORED_BYTES,
    otlpBodyTimeoutMs: e.PROMPTREG_OTLP_BODY_TIMEOUT_MS,
    ingestMaxInFlight: e.PROMPTREG_INGEST_MAX_INFLIGHT ?? ingestDefaults.maxInFlight,
    ingestMaxQueued: e.PROMPTREG_INGEST_MAX_QUEUED ?? ingestDefaults.maxQueued,
    ingestMaxPerKey: e.PROMPTREG_INGEST_MAX_PER_KEY,
    ...(e.PROMPTREG_CONSOLE_DIR ? { consoleDir: path.resolve(e.PROMPTREG_CONSOLE_DIR) } : {}),
    trustProxy: e.PROMPTREG_TRUST_PROXY,
    secureCookies: e.PROMPTREG_SECURE_COOKIES,
    allowPrivateConnections: e.PROMPTREG_ALLOW_PRIVATE_CONNECTIONS,
    secrets: new Map(
      Object.entries(env).filter((e): e is [string, string] => e[0].startsWith(SECRET_PREFIX) && Boolean(e[1])),
    ),
    secretProjects: e.PROMPTREG_CONNECTION_KEYS,
    evalConcurrency: e.PROMPTREG_EVAL_CONCURRENCY,
    evalMaxAttempts: e.PROMPTREG_EVAL_MAX_ATTEMPTS,
    experimentConcurrency: e.PROMPTREG_EXPERIMENT_CONCURRENCY,
    jobLeaseMs: e.PROMPTREG_JOB_LEASE_MS,
    eventsMaxStreams: e.PROMPTREG_EVENTS_MAX_STREAMS,
    eventsMaxPerKey: e.PROMPTREG_EVENTS_MAX_PER_KEY,
    eventsHeartbeatMs: e.PROMPTREG_EVENTS_HEARTBEAT_MS,
    eventsReplaySize: e.PROMPTREG_EVENTS_REPLAY,
    eventsMaxBufferBytes: e.PROMPTREG_EVENTS_MAX_BUFFER_BYTES,
    rolloutGuardIntervalMs: e.PROMPTREG_ROLLOUT_GUARD_INTERVAL_MS,
  };
}
