// Every call to the API goes through here: same-origin cookie auth, the CSRF token on writes, and each answer
// parsed with the wire schema the server validates with, so a drift shows up as an error here, not as a blank page.
import { ErrorBodySchema } from "@promptreg/client/contract";
import type { z } from "zod";

export const API = "/api/v1";

/** Held in memory only: a reload gets it again from GET /session, a new tab or another site never sees it. */
let csrfToken: string | null = null;
let onSignedOut: (() => void) | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when any request finds the session gone (expired, signed out elsewhere, or its key deleted). */
export function setSignedOutHandler(handler: () => void): void {
  onSignedOut = handler;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  query?: Query;
  body?: unknown;
  /** A body sent as it is (a file to import) with its own Content-Type, instead of `body` as JSON. */
  raw?: { data: Blob | string; contentType: string };
}

export const promptPath = (name: string) => `/prompts/${encodeURIComponent(name)}`;

export function url(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {}))
    if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  const qs = params.toString();
  return `${API}${path}${qs ? `?${qs}` : ""}`;
}

export async function api<S extends z.ZodType>(path: string, schema: S, options?: RequestOptions): Promise<z.infer<S>>;
export async function api(path: string, schema: null, options?: RequestOptions): Promise<void>;
export async function api(path: string, schema: z.ZodType | null, options: RequestOptions = {}): Promise<unknown> {
  const method = options.method ?? "GET";
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.raw) headers["Content-Type"] = options.raw.contentType;
  else if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let res: Response;
  try {
    res = await fetch(url(path, options.query), {
      method,
      headers,
      credentials: "same-origin",
      body: options.raw ? options.raw.data : options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch {
    throw new ApiError(0, "network", "the registry cannot be reached: is the server running?");
  }
  if (res.status === 204) return undefined;
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const parsed = ErrorBodySchema.safeParse(body);
    const err = parsed.success
      ? new ApiError(res.status, parsed.data.error.code, parsed.data.error.message, parsed.data.error.details)
      : new ApiError(res.status, "http_error", `the server answered ${res.status}`);
    if (res.status === 401 && path !== "/session") onSignedOut?.();
    throw err;
  }
  if (!schema) return undefined;
  const parsed = schema.safeParse(body);
  if (!parsed.success)
    throw new ApiError(
      res.status,
      "unexpected_response",
      `unexpected answer from ${path}: ${parsed.error.issues[0]?.message ?? "invalid"}`,
    );
  return parsed.data;
}

export const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * POSTs `body` and hands each line of an NDJSON answer to `onLine` as it arrives (the playground's stream). An error
 * before the stream (any non-2xx) throws the same ApiError `api` does; `signal` stops reading and closes the request.
 */
export async function apiLines(
  path: string,
  body: unknown,
  onLine: (line: unknown) => void,
  signal?: AbortSignal,
): Promise<void> {
  const headers: Record<string, string> = { Accept: "application/x-ndjson", "Content-Type": "application/json" };
  if (csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const res = await fetch(url(path), {
    method: "POST",
    headers,
    credentials: "same-origin",
    body: JSON.stringify(body),
    signal,
  });
  if (!res.ok || !res.body) {
    const parsed = ErrorBodySchema.safeParse(await res.json().catch(() => null));
    if (res.status === 401) onSignedOut?.();
    throw parsed.success
      ? new ApiError(res.status, parsed.data.error.code, parsed.data.error.message, parsed.data.error.details)
      : new ApiError(res.status, "http_error", `the server answered ${res.status}`);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    pending += value;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) if (line.trim()) onLine(JSON.parse(line));
  }
  if (pending.trim()) onLine(JSON.parse(pending));
}
