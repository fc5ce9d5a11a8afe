import { Router } from "express";
import { z } from "zod";
import { principalOf } from "../auth/principal.js";
import { ConnectionListSchema, ConnectionSchema, ConnectionTestResultSchema } from "@promptreg/client/contract";
import { apiRoute, on } from "../http/api-route.js";
import { parse } from "../http/validate.js";
import type { ConnectionsService } from "./connections.service.js";

const noNul = (s: string) => !s.includes("\u0000");
const connectionName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/,
    "must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
  );

// Headers the call itself sets or that would change how the request is framed; the key goes in apiKeyEnv.
const RESERVED_HEADERS = new Set([
  "authorization",
  "host",
  "content-length",
  "content-type",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "proxy-authorization",
  "cookie",
]);
// Keys checked here rather than by the record's key schema, whose failures zod reports only as "Invalid key".
const headers = z
  .record(
    z.string(),
    z
      .string()
      .max(1024)
      // What an HTTP header value can carry: visible ASCII, tab and Latin-1; no control characters.
      .regex(/^[\t\x20-\x7e\xa0-\xff]*$/, "must be visible ASCII or Latin-1 characters, with no control characters"),
  )
  .superRefine((h, ctx) => {
    const names = Object.keys(h);
    if (names.length > 20) ctx.addIssue({ code: "custom", message: "at most 20 headers" });
    for (const name of names) {
      if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/.test(name))
        ctx.addIssue({ code: "custom", path: [name], message: "must be an HTTP header name" });
      else if (RESERVED_HEADERS.has(name.toLowerCase()))
        ctx.addIssue({
          code: "custom",
          path: [name],
          message: "is set by the call itself (the key goes in apiKeyEnv, which names a server environment variable)",
        });
    }
  })
  .transform((h) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v])));

const definition = {
  baseUrl: z
    .string()
    .max(2048)
    .refine(
      (u) => /^https?:\/\//i.test(u) && URL.canParse(u),
      "must be an http(s) URL such as https://api.openai.com/v1",
    )
    // The URL parser drops tabs and line breaks; stored as sent, they would make the shown URL lie.
    .refine((u) => [...u].every((c) => c > " " && c !== "\u007f"), "must not contain spaces or control characters"),
  model: z.string().min(1, "must not be empty").max(256).refine(noNul, "must not contain NUL characters"),
  apiKeyEnv: z
    .string()
    .regex(
      /^PROMPTREG_SECRET_[A-Z0-9_]{1,100}$/,
      "must name a server environment variable whose name starts with PROMPTREG_SECRET_ (the key itself is never stored)",
    )
    .nullable()
    .default(null),
  headers: headers.default({}),
  timeoutMs: z.int().min(1_000).max(300_000).default(30_000),
  maxConcurrency: z.int().min(1).max(64).default(4),
  requestsPerMinute: z.int().min(1).max(100_000).nullable().default(null),
};
const CreateBody = z.strictObject({ name: connectionName, ...definition });
// A PUT replaces the whole definition; the name is the path's (sent again, it must be the same).
const ReplaceBody = z.strictObject({ name: connectionName.optional(), ...definition });
const NameParams = z.object({ name: connectionName });

const tag = "connections";
export const CONNECTION_ROUTES = {
  list: apiRoute({
    method: "get",
    path: "/connections",
    tag,
    summary: "The project's model connections",
    responses: { 200: ConnectionListSchema },
  }),
  create: apiRoute({
    method: "post",
    path: "/connections",
    tag,
    summary: "Add a model connection (an OpenAI-compatible Chat Completions endpoint)",
    body: CreateBody,
    responses: { 201: ConnectionSchema },
  }),
  get: apiRoute({
    method: "get",
    path: "/connections/:name",
    tag,
    summary: "One model connection",
    params: NameParams,
    responses: { 200: ConnectionSchema },
  }),
  replace: apiRoute({
    method: "put",
    path: "/connections/:name",
    tag,
    summary: "Replace a model connection's definition",
    params: NameParams,
    body: ReplaceBody,
    responses: { 200: ConnectionSchema },
  }),
  remove: apiRoute({
    method: "delete",
    path: "/connections/:name",
    tag,
    summary: "Delete a model connection",
    params: NameParams,
    responses: { 204: null },
  }),
  test: apiRoute({
    method: "post",
    path: "/connections/:name/test",
    tag,
    summary: "Send one tiny request through a connection, without retrying",
    description: "Answers 200 whatever the model server said: `ok` and the reply, or the error.",
    params: NameParams,
    responses: { 200: ConnectionTestResultSchema },
  }),
};

export function connectionRoutes(connections: ConnectionsService): Router {
  const r = Router();

  on(r, CONNECTION_ROUTES.list, async (_req, res) => {
    res.json({ data: await connections.list(principalOf(res)) });
  });

  on(r, CONNECTION_ROUTES.create, async (req, res) => {
    res.status(201).json(await connections.create(principalOf(res), parse(CreateBody, req.body)));
  });

  on(r, CONNECTION_ROUTES.get, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    res.json(await connections.get(principalOf(res), name));
  });

  on(r, CONNECTION_ROUTES.replace, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    const body = parse(
      ReplaceBody.refine((b) => b.name === undefined || b.name === name, {
        path: ["name"],
        message: `must be the connection's name in the path ('${name}'); a connection cannot be renamed`,
      }),
      req.body,
    );
    res.json(await connections.replace(principalOf(res), name, body));
  });

  on(r, CONNECTION_ROUTES.remove, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    await connections.remove(principalOf(res), name);
    res.status(204).end();
  });

  // The test ran whatever the server answered: 200 with `ok` and what it said.
  on(r, CONNECTION_ROUTES.test, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    res.json(await connections.test(principalOf(res), name));
  });

  return r;
}
