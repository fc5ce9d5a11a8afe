// A route of /api/v1 declared once: its path, what it takes and what it answers, by the contract's zod schemas. The
// route is registered from the declaration (so the app cannot serve a route the declaration does not name), its
// handler's `res.json` takes only the declared answers, the OpenAPI document is generated from the declarations
// (openapi.ts), and the tests check every answer against them (answer-check.ts).
import type { RequestHandler, Router } from "express";
import type { z } from "zod";

export type Method = "get" | "post" | "put" | "patch" | "delete";

/** The answer of each status a route gives on success; null for an answer without a body (204, 304). */
export type Responses = Record<number, z.ZodType | null>;

export interface ApiRoute<R extends Responses = Responses> {
  method: Method;
  /** The Express pattern under /api/v1 (`/prompts/:name`). */
  path: string;
  summary: string;
  /** The section of the reference it belongs to. */
  tag: string;
  description?: string;
  /** Who may call it: by default a key (or a console session); `none` answers anyone. */
  auth?: "none" | "session";
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** A body other than JSON that the route reads itself (an imported file): its media types. */
  rawBody?: string[];
  /** For a status declared null: the media types of a body other than JSON it answers with (an exported file). */
  rawAnswer?: string[];
  responses: R;
}

/** Declares a route; the identity function, there so that the declaration's types are checked and kept. */
export const apiRoute = <R extends Responses>(route: ApiRoute<R>): ApiRoute<R> => route;

/** What a route may send as its JSON body: the input of any of its declared answer schemas (none for a 204). */
export type Answer<R extends Responses> = {
  [S in keyof R]: R[S] extends z.ZodType ? z.input<R[S]> : undefined;
}[keyof R];

/** Registers `handler` for `route` on `router`, its answer typed by the declaration. */
export function on<R extends Responses>(
  router: Router,
  route: ApiRoute<R>,
  handler: RequestHandler<Record<string, string>, Answer<R>>,
): void {
  router[route.method](route.path, handler as RequestHandler);
}
