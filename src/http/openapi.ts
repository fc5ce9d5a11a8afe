// The OpenAPI 3.1 document of /api/v1, generated from the routes' declarations (api-route.ts) and so from the
// contract's zod schemas: nothing in it is written by hand but the prose.
import { z } from "zod";
import {
  createDocument,
  type ZodOpenApiOperationObject,
  type ZodOpenApiPathsObject,
  type ZodOpenApiResponseObject,
} from "zod-openapi";
import { AttributeValueSchema, ErrorBodySchema } from "@promptreg/client/contract";
import { SESSION_COOKIE } from "../auth/sessions.js";
import { apiRoute, type ApiRoute } from "./api-route.js";

/** The document itself is public: it is the same for every project and tells nothing about any. */
export const OPENAPI_ROUTE = apiRoute({
  method: "get",
  path: "/openapi.json",
  tag: "reference",
  auth: "none",
  summary: "This document",
  responses: { 200: z.looseObject({ openapi: z.literal("3.1.0") }) },
});

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  201: "Created",
  204: "No content",
  304: "Not modified: the ETag given in If-None-Match is current",
};

/** `/prompts/:name` -> `/prompts/{name}` */
export const openApiPath = (expressPath: string) => expressPath.replace(/:(\w+)/g, "{$1}");

/** Routes by group; a route's operationId is its group and its name (`promptsResolve`). */
export type RouteGroups = Record<string, Record<string, ApiRoute>>;

export function openApiDocument(groups: RouteGroups) {
  const paths: ZodOpenApiPathsObject = {};
  for (const [group, routes] of Object.entries(groups))
    for (const [name, route] of Object.entries(routes)) {
      const responses: Record<string, ZodOpenApiResponseObject> = {
        default: {
          description: "An error, in the one error shape: `code` is one of a closed list",
          content: { "application/json": { schema: ErrorBodySchema } },
        },
      };
      const text = (types: string[]) =>
        Object.fromEntries(types.map((t) => [t, { schema: { type: "string" as const } }]));
      for (const [status, schema] of Object.entries(route.responses))
        responses[status] = {
          description: STATUS_TEXT[Number(status)] ?? status,
          ...(schema
            ? { content: { "application/json": { schema } } }
            : route.rawAnswer && Number(status) < 300
              ? { content: text(route.rawAnswer) }
              : {}),
        };
      const operation: ZodOpenApiOperationObject = {
        operationId: group + name[0]!.toUpperCase() + name.slice(1),
        summary: route.summary,
        ...(route.description ? { description: route.description } : {}),
        tags: [route.tag],
        ...(route.auth === "none" ? { security: [] } : route.auth === "session" ? { security: [{ session: [] }] } : {}),
        requestParams: {
          ...(route.params ? { path: route.params } : {}),
          ...(route.query ? { query: route.query } : {}),
        },
        ...(route.body
          ? { requestBody: { required: true, content: { "application/json": { schema: route.body } } } }
          : route.rawBody
            ? { requestBody: { required: true, content: text(route.rawBody) } }
            : {}),
        responses,
      };
      (paths[openApiPath(route.path)] ??= {})[route.method] = operation;
    }
  return createDocument(
    {
      openapi: "3.1.0",
      info: {
        title: "promptreg",
        version: "1",
        description:
          "Versioned prompts, labels and rollback, and the outcomes of their versions from OpenTelemetry traces. OTLP/HTTP traces are received at /v1/traces, outside this API.",
      },
      servers: [{ url: "/api/v1" }],
      security: [{ apiKey: [] }, { session: [] }],
      components: {
        securitySchemes: {
          apiKey: { type: "http", scheme: "bearer", description: "An API key: `Authorization: Bearer pr_...`" },
          session: {
            type: "apiKey",
            in: "cookie",
            name: SESSION_COOKIE,
            description: "The console's session (POST /session); writes also need its X-CSRF-Token header",
          },
        },
      },
      paths,
    },
    {
      override: ({ jsonSchema, zodSchema }) => {
        // openapi-typescript writes an array as `T[]` with T looked up in `components`, which TypeScript cannot let
        // refer back to itself ("referenced directly or indirectly in its own type annotation"): the items of an
        // attribute's array value are described in prose, so that a generated client compiles.
        const def = zodSchema._zod.def as { type: string; element?: unknown };
        if (def.type === "array" && def.element === AttributeValueSchema)
          jsonSchema.items = { description: "an AttributeValue (a string, number, boolean, null, array or object)" };
      },
    },
  );
}
