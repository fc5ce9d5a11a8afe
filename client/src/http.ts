// One HTTP call of the client (resolving a reference, asking which project a key belongs to, an experiment's
// calls), with its timeout, retries and error mapping.
import { z } from "zod";
import { ErrorBodySchema, PromptVersionSchema, RoleSchema, type PromptVersion } from "./contract.js";
import { RegistryError } from "./errors.js";

export interface HttpSettings {
  /** Without a trailing slash. */
  baseUrl: string;
  apiKey: string;
  fetch: typeof globalThis.fetch;
  requestTimeoutMs: number;
  maxRetries: number;
  retryBaseDelayMs: number;
  /** The clock (epoch ms) that deadlines and Retry-After dates are read against. */
  now: () => number;
}

/** Defaults of the HTTP options that `createClient` and `pullSnapshot` share. */
export const HTTP_DEFAULTS = { requestTimeoutMs: 10_000, maxRetries: 2, retryBaseDelayMs: 200 } as const;

/** The registry's URL as requests are built from it. */
export const trimBaseUrl = (url: string) => url.replace(/\/+$/, "");

/**
 * The project of the key, sent by the server on every authenticated answer. The same literal is in the server's
 * auth middleware (the server imports only the contract, and the contract holds no HTTP details).
 */
export const PROJECT_HEADER = "x-promptreg-project";

export type ResolveResult = (
  | { notModified: true }
  | { notModified: false; version: PromptVersion; etag: string | undefined }
) & {
  /** The key's project, when the server said (`x-promptreg-project`). */
  project: string | undefined;
};

export interface ResolveOptions {
  /** Sent as If-None-Match: the server answers 304 when the resolved version is still this one. */
  etag?: string;
  /** No retry starts after this time (epoch ms). Without it a server's Retry-After is capped at 30 s. */
  deadline?: number;
  /** Overrides `HttpSettings.maxRetries`: a breaker's probe makes one attempt, its backoff is the retry. */
  maxRetries?: number;
  /** Told the key's project whenever an answer names it (`x-promptreg-project`), a refusal such as a 404 included. */
  onProject?: (project: string) => void;
}

const MAX_RETRY_DELAY_MS = 30_000;

export function resolveUrl(baseUrl: string, name: string, ref: string): string {
  return `${baseUrl}/api/v1/prompts/${encodeURIComponent(name)}/resolve?ref=${encodeURIComponent(ref)}`;
}

export function versionUrl(baseUrl: string, name: string, version: string): string {
  return `${baseUrl}/api/v1/prompts/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`;
}

/**
 * Resolves `ref` of prompt `name` on the server. Retries network errors, timeouts, 408, 429 and 5xx with exponential
 * backoff and jitter (or the server's Retry-After), and never starts a retry past `deadline`.
 * @throws {RegistryError} the last failure
 */
export async function resolveRemote(
  http: HttpSettings,
  name: string,
  ref: string,
  options: ResolveOptions = {},
): Promise<ResolveResult> {
  const answer = await getWithRetries(
    http,
    resolveUrl(http.baseUrl, name, ref),
    PromptVersionSchema,
    "a prompt version",
    options,
  );
  if (answer.notModified) return answer;
  return { notModified: false, version: answer.value, etag: answer.etag, project: answer.project };
}

/** What `GET /api/v1/whoami` answers: the project and role of the key. */
export const WhoamiSchema = z.object({ project: z.string().min(1), role: RoleSchema });
export type Whoami = z.infer<typeof WhoamiSchema>;

/**
 * Asks the server which project the key belongs to.
 * @throws {RegistryError} the last failure
 */
export async function whoami(http: HttpSettings): Promise<Whoami> {
  const answer = await getWithRetries(http, `${http.baseUrl}/api/v1/whoami`, WhoamiSchema, "an identity", {});
  if (answer.notModified)
    throw new RegistryError({ status: 304, code: "invalid_response", message: "unexpected 304 Not Modified" });
  return answer.value;
}

/**
 * A JSON call of the API (`body` is sent as JSON when given), retried as `resolveRemote` is (`maxRetries` 0 for a
 * call that must not be repeated); the answer is 200 or 201 and parses with `schema`.
 * @throws {RegistryError} the last failure
 */
export async function callJson<T>(
  http: HttpSettings,
  request: { method: "GET" | "POST"; url: string; body?: unknown },
  schema: z.ZodType<T>,
  what: string,
  maxRetries?: number,
): Promise<T> {
  const options: ResolveOptions = maxRetries === undefined ? {} : { maxRetries };
  const answer = await getWithRetries(http, request.url, schema, what, options, request);
  if (answer.notModified)
    throw new RegistryError({ status: 304, code: "invalid_response", message: "unexpected 304 Not Modified" });
  return answer.value;
}

type Answer<T> = ({ notModified: true } | { notModified: false; value: T; etag: string | undefined }) & {
  project: string | undefined;
};

async function getWithRetries<T>(
  http: HttpSettings,
  url: string,
  schema: z.ZodType<T>,
  what: string,
  options: ResolveOptions,
  request: Request = { method: "GET" },
): Promise<Answer<T>> {
  const maxRetries = options.maxRetries ?? http.maxRetries;
  for (let attempt = 0; ; attempt++) {
    const outcome = await attemptOnce(http, url, options.etag, schema, what, request);
    if (outcome.project !== undefined) options.onProject?.(outcome.project);
    if (!("error" in outcome)) return outcome;
    const { error, retryAfterMs } = outcome;
    if (!isRetryable(error) || attempt >= maxRetries) throw error;
    const backoff = http.retryBaseDelayMs * 2 ** attempt;
    // Half fixed, half random: spreads out clients that failed together without ever retrying immediately.
    const delay = retryAfterMs ?? backoff / 2 + Math.random() * (backoff / 2);
    if (options.deadline !== undefined ? http.now() + delay > options.deadline : delay > MAX_RETRY_DELAY_MS)
      throw error;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

function isRetryable(err: RegistryError): boolean {
  return err.status === 0 || err.status === 408 || err.status === 429 || err.status >= 500;
}

type Request = { method: "GET" | "POST"; body?: unknown };

type Attempt<T> = Answer<T> | { error: RegistryError; retryAfterMs?: number; project?: string | undefined };

async function attemptOnce<T>(
  http: HttpSettings,
  url: string,
  etag: string | undefined,
  schema: z.ZodType<T>,
  what: string,
  request: Request,
): Promise<Attempt<T>> {
  const headers: Record<string, string> = { Authorization: `Bearer ${http.apiKey}`, Accept: "application/json" };
  if (etag !== undefined) headers["If-None-Match"] = etag;
  if (request.body !== undefined) headers["Content-Type"] = "application/json";
  const call = `${request.method} ${url}`;
  // The signal also bounds reading the body: a server that sends headers and then stalls is a timeout too.
  const signal = AbortSignal.timeout(http.requestTimeoutMs);
  let status: number;
  let text: string;
  let response: Response;
  try {
    // Called as a plain function: browsers refuse their fetch called as a method of another object ("Illegal
    // invocation"), which `http.fetch(...)` would be.
    const fetch = http.fetch;
    response = await fetch(url, {
      method: request.method,
      headers,
      signal,
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
    });
    status = response.status;
    text = status === 304 ? "" : await response.text();
  } catch (err) {
    return { error: networkError(err, call, http.requestTimeoutMs) };
  }
  const requestId = response.headers.get("x-request-id") ?? undefined;
  const project = response.headers.get(PROJECT_HEADER) ?? undefined;

  if (status === 304 && etag !== undefined) return { notModified: true, project };
  if (status === 200 || (status === 201 && request.method === "POST")) {
    const parsed = schema.safeParse(parseJson(text));
    if (parsed.success)
      return { notModified: false, value: parsed.data, etag: response.headers.get("etag") ?? undefined, project };
    return {
      error: new RegistryError({
        status,
        code: "invalid_response",
        message: `${call}: the answer is not ${what} (${parsed.error.issues[0]?.message ?? "not JSON"})`,
        requestId,
      }),
      project,
    };
  }
  return {
    error: errorFromBody(status, text, call, requestId),
    retryAfterMs: parseRetryAfter(response.headers.get("retry-after"), http.now),
    project,
  };
}

export function errorFromBody(
  status: number,
  text: string,
  call: string,
  requestId: string | undefined,
): RegistryError {
  const body = ErrorBodySchema.safeParse(parseJson(text));
  if (body.success) {
    const { code, message, details } = body.data.error;
    return new RegistryError({ status, code, message, details, requestId: body.data.error.requestId ?? requestId });
  }
  // Not our server's envelope: a proxy or load balancer answered.
  const snippet = text.length > 200 ? `${text.slice(0, 200)}...` : text;
  return new RegistryError({
    status,
    code: "http_error",
    message: `${call}: HTTP ${status}${snippet ? `: ${snippet}` : ""}`,
    requestId,
  });
}

function networkError(err: unknown, call: string, timeoutMs: number): RegistryError {
  if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) {
    return new RegistryError({
      status: 0,
      code: "timeout",
      message: `${call}: no answer within ${timeoutMs} ms`,
      cause: err,
    });
  }
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const reason = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
  return new RegistryError({ status: 0, code: "network_error", message: `${call}: ${reason}`, cause: err });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Retry-After in delay-seconds or as an HTTP date (read against `now`); undefined when absent or unreadable. */
export function parseRetryAfter(header: string | null, now: () => number = Date.now): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now());
}
