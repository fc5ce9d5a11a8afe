// A project's model connections (the only writer of `connections`): where LLM judges, and later experiments, send
// their Chat Completions requests. Admin only, since a connection spends the server's keys. The key itself never
// reaches the database or an answer: a connection names the server's environment variable that holds it, and only
// PROMPTREG_SECRET_* variables may be named, so a project admin cannot have DATABASE_URL sent to a server of theirs.
import type { Connection, ConnectionTestResult } from "@promptreg/client/contract";
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

interface ConnectionRow {
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

export function createConnectionsService({
  db,
  outbound,
  chat,
  secrets,
}: {
  db: Db;
  outbound: Outbound;
  chat: ChatClient;
  secrets: ReadonlyMap<string, string>;
}) {
  const view = (r: ConnectionRow): Connection => ({
    name: r.name,
    baseUrl: r.baseUrl,
    model: r.model,
    apiKeyEnv: r.apiKeyEnv,
    apiKeyEnvSet: r.apiKeyEnv !== null && secrets.has(r.apiKeyEnv),
    headers: r.headers as Record<string, string>,
    timeoutMs: r.timeoutMs,
    maxConcurrency: r.maxConcurrency,
    requestsPerMinute: r.requestsPerMinute,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  });

  // The target is checked when it is configured (and again at every call's connect, where it decides).
  async function checkTarget(baseUrl: string): Promise<void> {
    const refused = await outbound.checkTarget(chatCompletionsUrl(baseUrl));
    if (refused)
      throw new AppError("validation_error", `invalid request body: body.baseUrl: ${refused}`, {
        issues: [{ path: "body.baseUrl", message: refused }],
      });
  }

  async function find(p: Principal, name: string): Promise<ConnectionRow> {
    const row = await db.connection.findUnique({ where: { projectId_name: { projectId: p.projectId, name } } });
    if (!row) throw notFound(`connection '${name}'`);
    return row;
  }

  const data = (input: ConnectionInput) => ({ ...input, headers: input.headers });

  return {
    async list(p: Principal): Promise<Connection[]> {
      requireRole(p, "admin");
      const rows = await db.connection.findMany({ where: { projectId: p.projectId }, orderBy: { name: "asc" } });
      return rows.map(view);
    },

    async get(p: Principal, name: string): Promise<Connection> {
      requireRole(p, "admin");
      return view(await find(p, name));
    },

    async create(p: Principal, input: ConnectionInput): Promise<Connection> {
      requireRole(p, "admin");
      await checkTarget(input.baseUrl);
      try {
        return view(await db.connection.create({ data: { projectId: p.projectId, ...data(input) } }));
      } catch (err) {
        if (isUniqueViolation(err))
          throw new AppError("conflict", `connection '${input.name}' already exists: change it with PUT`);
        throw err;
      }
    },

    async replace(p: Principal, name: string, input: Omit<ConnectionInput, "name">): Promise<Connection> {
      requireRole(p, "admin");
      await checkTarget(input.baseUrl);
      const { count } = await db.connection.updateMany({
        where: { projectId: p.projectId, name },
        data: { ...data({ ...input, name }), updatedAt: new Date() },
      });
      if (count === 0) throw notFound(`connection '${name}'`);
      return view(await find(p, name));
    },

    async remove(p: Principal, name: string): Promise<void> {
      requireRole(p, "admin");
      const { count } = await db.connection.deleteMany({ where: { projectId: p.projectId, name } });
      if (count === 0) throw notFound(`connection '${name}'`);
    },

    /** One tiny request, with no retry: the latency, or what the server (or the network) said. */
    async test(p: Principal, name: string): Promise<ConnectionTestResult> {
      requireRole(p, "admin");
      const row = await find(p, name);
      try {
        const answer = await chat.complete(
          { ...row, headers: row.headers as Record<string, string> },
          { messages: [{ role: "user", content: "Reply with the word OK." }], maxTokens: 5 },
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
      }
    },
  };
}
