// A project's model connections (the only writer of `connections`): where LLM judges, and later experiments, send
// their Chat Completions requests. Admin only, since a connection spends the server's keys. The key itself never
// reaches the database or an answer: a connection names the server's environment variable that holds it, and only
// PROMPTREG_SECRET_* variables may be named, so a project admin cannot have DATABASE_URL sent to a server of theirs;
// and each is for the projects PROMPTREG_CONNECTION_KEYS lists (`default` alone when unlisted), so on a shared server
// one project cannot have another's key sent to a server of its own.
import type { Connection, ConnectionTestResult } from "@promptreg/client/contract";
import { LRUCache } from "lru-cache";
import { DEFAULT_PROJECT } from "../auth/auth.service.js";
import { type Principal, requireRole } from "../auth/principal.js";
import type { Db } from "../db/client.js";
import { isUniqueViolation } from "../db/client.js";
import { AppError, notFound } from "../http/errors.js";
import { type Outbound, OutboundError } from "../outbound/outbound.js";
import { type ChatClient, type ConnectionTarget, chatCompletionsUrl } from "./chat.js";

/** A connection as defined: where calls go (ConnectionTarget) and how many. */
export interface ConnectionInput extends ConnectionTarget {
  maxConcurrency: number;
  requestsPerMinute: number | null;
}

/** Connection tests one server runs at once, over all connections. */
const MAX_TESTS_IN_FLIGHT = 32;
/** A test asks for five tokens: its answer is a few hundred bytes. */
const TEST_ANSWER_BYTES = 64 * 1024;

interface ConnectionRow {
  id: string;
  name: string;
  baseUrl: string;
  model: string;
  apiKeyEnv: string | null;
  headers: unknown;
  timeoutMs: number;
  maxConcurrency: number;
  requestsPerMinute: number | null;
  createdAt: Date;
  updatedAt: Date;
}

export type ConnectionsService = ReturnType<typeof createConnectionsService>;

/** A connection as a background call goes through it. */
export type CallableConnection = Omit<ConnectionRow, "headers"> & { headers: Record<string, string> };

/** How long a background call keeps using a connection as it read it. */
const FOR_CALLS_TTL_MS = 5_000;
const callsKey = (projectId: string, name: string) => `${projectId}\u0000${name}`;

export function createConnectionsService({
  db,
  outbound,
  chat,
  secrets,
  secretProjects,
  allowPrivate,
}: {
  db: Db;
  outbound: Outbound;
  chat: ChatClient;
  secrets: ReadonlyMap<string, string>;
  secretProjects: ReadonlyMap<string, ReadonlySet<string>>;
  /** PROMPTREG_ALLOW_PRIVATE_CONNECTIONS: also lets a key travel over plain http (a server on a private network). */
  allowPrivate: boolean;
}) {
  const mayUse = (p: Pick<Principal, "projectName">, env: string) =>
    secretProjects.get(env)?.has(p.projectName) ?? p.projectName === DEFAULT_PROJECT;
  // Connections as background calls read them (every judged span, every experiment item), kept a few seconds: a
  // change or deletion made here takes effect at once, one made on another instance within FOR_CALLS_TTL_MS.
  const forCallsCache = new LRUCache<string, CallableConnection>({ max: 1_000, ttl: FOR_CALLS_TTL_MS });
  // Test calls in flight, per connection (its maxConcurrency) and in all: each may hold a socket for its timeout.
  const inFlight = new Map<string, number>();
  let inFlightTotal = 0;

  const view = (p: Principal, r: ConnectionRow): Connection => ({
    name: r.name,
    baseUrl: r.baseUrl,
    model: r.model,
    apiKeyEnv: r.apiKeyEnv,
    // Whether a variable another project's key is in exists is none of this project's business.
    apiKeyEnvSet: r.apiKeyEnv !== null && mayUse(p, r.apiKeyEnv) && secrets.has(r.apiKeyEnv),
    headers: r.headers as Record<string, string>,
    timeoutMs: r.timeoutMs,
    maxConcurrency: r.maxConcurrency,
    requestsPerMinute: r.requestsPerMinute,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  });

  const invalid = (path: string, message: string) =>
    new AppError("validation_error", `invalid request body: ${path}: ${message}`, { issues: [{ path, message }] });

  // The target is checked when it is configured (and again at every call's connect, where it decides).
  async function checkDefinition(p: Principal, input: Omit<ConnectionInput, "name">): Promise<void> {
    if (input.apiKeyEnv !== null && !mayUse(p, input.apiKeyEnv))
      throw invalid(
        "body.apiKeyEnv",
        `is not a key for project '${p.projectName}': the server's PROMPTREG_CONNECTION_KEYS names the projects each key is for (a key it does not list is for 'default' only)`,
      );
    if (input.apiKeyEnv !== null && !allowPrivate && new URL(input.baseUrl).protocol !== "https:")
      throw invalid(
        "body.baseUrl",
        "must be https when apiKeyEnv is set, or the key travels in cleartext (plain http is allowed with PROMPTREG_ALLOW_PRIVATE_CONNECTIONS=true, for a server on a private network)",
      );
    const refused = await outbound.checkTarget(chatCompletionsUrl(input.baseUrl));
    if (refused) throw invalid("body.baseUrl", refused);
  }

  async function find(p: Principal, name: string): Promise<ConnectionRow> {
    const row = await db.connection.findUnique({ where: { projectId_name: { projectId: p.projectId, name } } });
    if (!row) throw notFound(`connection '${name}'`);
    return row;
  }

  return {
    async list(p: Principal): Promise<Connection[]> {
      requireRole(p, "admin");
      const rows = await db.connection.findMany({ where: { projectId: p.projectId }, orderBy: { name: "asc" } });
      return rows.map((r) => view(p, r));
    },

    async get(p: Principal, name: string): Promise<Connection> {
      requireRole(p, "admin");
      return view(p, await find(p, name));
    },

    async create(p: Principal, input: ConnectionInput): Promise<Connection> {
      requireRole(p, "admin");
      await checkDefinition(p, input);
      try {
        return view(p, await db.connection.create({ data: { projectId: p.projectId, ...input } }));
      } catch (err) {
        if (isUniqueViolation(err))
          throw new AppError("conflict", `connection '${input.name}' already exists: change it with PUT`);
        throw err;
      }
    },

    /** The path's `name` is the connection's: one sent in `input` was checked equal by the route. */
    async replace(p: Principal, name: string, input: Omit<ConnectionInput, "name">): Promise<Connection> {
      requireRole(p, "admin");
      await checkDefinition(p, input);
      const { count } = await db.connection.updateMany({
        where: { projectId: p.projectId, name },
        data: { ...input, name, updatedAt: new Date() },
      });
      if (count === 0) throw notFound(`connection '${name}'`);
      forCallsCache.delete(callsKey(p.projectId, name));
      return view(p, await find(p, name));
    },

    async remove(p: Principal, name: string): Promise<void> {
      requireRole(p, "admin");
      const { count } = await db.connection.deleteMany({ where: { projectId: p.projectId, name } });
      forCallsCache.delete(callsKey(p.projectId, name));
      if (count === 0) throw notFound(`connection '${name}'`);
    },

    /**
     * The connection a background call (an LLM judge) goes through, or an OutboundError retrying cannot fix: the
     * connection was deleted, or its key is no longer for the project.
     */
    async forCalls(project: { projectId: string; projectName: string }, name: string): Promise<CallableConnection> {
      const key = callsKey(project.projectId, name);
      let row = forCallsCache.get(key);
      if (!row) {
        const found = await db.connection.findUnique({
          where: { projectId_name: { projectId: project.projectId, name } },
        });
        if (!found) throw new OutboundError(`connection '${name}' does not exist (it was deleted or renamed)`, false);
        row = { ...found, headers: found.headers as Record<string, string> };
        forCallsCache.set(key, row);
      }
      if (row.apiKeyEnv !== null && !mayUse(project, row.apiKeyEnv))
        throw new OutboundError(
          `${row.apiKeyEnv} is not a key for project '${project.projectName}' (PROMPTREG_CONNECTION_KEYS)`,
          false,
        );
      return row;
    },

    /** Whether the project has a connection of this name. */
    async exists(projectId: string, name: string): Promise<boolean> {
      return (await db.connection.count({ where: { projectId, name } })) > 0;
    },

    /** One tiny request, with no retry: the latency, or what the server (or the network) said. */
    async test(p: Principal, name: string): Promise<ConnectionTestResult> {
      requireRole(p, "admin");
      const row = await find(p, name);
      // A key the project may no longer use (PROMPTREG_CONNECTION_KEYS changed since) is not sent.
      if (row.apiKeyEnv !== null && !mayUse(p, row.apiKeyEnv))
        return {
          ok: false,
          error: `${row.apiKeyEnv} is not a key for project '${p.projectName}' (PROMPTREG_CONNECTION_KEYS)`,
          status: null,
          retryable: false,
        };
      const busy = inFlight.get(row.id) ?? 0;
      if (busy >= row.maxConcurrency || inFlightTotal >= MAX_TESTS_IN_FLIGHT)
        throw new AppError(
          "rate_limited",
          busy >= row.maxConcurrency
            ? `connection '${name}' has ${busy} test calls in flight (its maxConcurrency); try again when they end`
            : `${inFlightTotal} connection tests are in flight on this server; try again when they end`,
        );
      inFlight.set(row.id, busy + 1);
      inFlightTotal += 1;
      try {
        const answer = await chat.complete(
          { ...row, headers: row.headers as Record<string, string> },
          {
            messages: [{ role: "user", content: "Reply with the word OK." }],
            maxTokens: 5,
            maxAnswerBytes: TEST_ANSWER_BYTES,
          },
        );
        return {
          ok: true,
          latencyMs: Math.round(answer.latencyMs),
          model: answer.model,
          reply: answer.text.slice(0, 200),
        };
      } catch (err) {
        if (!(err instanceof OutboundError)) throw err;
        return { ok: false, error: err.message, status: err.status ?? null, retryable: err.retryable };
      } finally {
        inFlightTotal -= 1;
        const left = (inFlight.get(row.id) ?? 1) - 1;
        if (left > 0) inFlight.set(row.id, left);
        else inFlight.delete(row.id);
      }
    },
  };
}
