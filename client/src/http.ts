// One HTTP call of the client (resolving a reference), with its timeout, retries and error mapping.
import { ErrorBodySchema, PromptVersionSchema, type PromptVersion } from "./contract.js";
import { RegistryError } from "./errors.js";

export interface HttpSettings {
  /** Without a trailing slash. */
  baseUrl: string;
  apiKey: string;
  fetch: typeof globalThis.fetch;
  requestTimeoutMs: number;
  maxRetries: number;
  retryBaseDelayMs: number;
}

export type ResolveResult = { notModified: true } | { notModified: false; version: PromptVersion; etag: string | undefined };

export interface ResolveOptions {
  /** Sent as If-None-Match: the server answers 304 when the resolved version is still this one. */
  etag?: string;
  /** No retry starts after this time (epoch ms). Without it a server's Retry-After is capped at 30 s. */
  deadline?: number;
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
export async function resolveRemote(http: HttpSettings, name: string, ref: string, options: ResolveOptions = {}): Promise<ResolveResult> {
  const url = resolveUrl(http.baseUrl, name, ref);
  for (let attempt = 0; ; attempt++) {
    const outcome = await attemptOnce(http, url, options.etag);
    if (!("error" in outcome)) return outcome;
    const { error, retryAfterMs } = outcome;
    if (!isRetryable(error) || attempt >= http.maxRetries) throw error;
    const backoff = http.retryBaseDelayMs * 2 ** attempt;
    // Half fixed, half random: spreads out clients that failed together without ever retrying immediately.
    const delay = retryAfterMs ?? backoff / 2 + Math.random() * (backoff / 2);
    if (options.deadline !== undefined ? Date.now() + delay > options.deadline : delay > MAX_RETRY_DELAY_MS) throw error;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

function isRetryable(err: RegistryError): boolean {
  return err.status === 0 || err.status === 408 || err.status === 429 || err.status >= 500;
}

type Attempt = ResolveResult | { error: RegistryError; retryAfterMs?: number };

async function attemptOnce(http: HttpSettings, url: string, etag: string | undefined): Promise<Attempt> {
  const headers: Record<string, string> = { Authorization: `Bearer ${http.apiKey}`, Accept: "application/json" };
  if (etag !== undefined) headers["If-None-Match"] = etag;
  // The signal also bounds reading the body: a server that sends headers and then stalls is a timeout too.
  const signal = AbortSignal.timeout(http.requestTimeoutMs);
  let status: number;
  let text: string;
  let response: Response;
  try {
    response = await http.fetch(url, { headers, signal });
    status = response.status;
    text = status === 304 ? "" : await response.text();
  } catch (err) {
    return { error: networkError(err, url, http.requestTimeoutMs) };
  }
  const requestId = response.headers.get("x-request-id") ?? undefined;

  if (status === 304 && etag !== undefined) return { notModified: true };
  if (status === 200) {
    const parsed = parseJson(text);
    const version = PromptVersionSchema.safeParse(parsed);
    if (version.success) return { notModified: false, version: version.data, etag: response.headers.get("etag") ?? undefined };
    return {
      error: new RegistryError({
        status,
        code: "invalid_response",
        message: `GET ${url}: the answer is not a prompt version (${version.error.issues[0]?.message ?? "not JSON"})`,
        requestId,
      }),
    };
  }
  return { error: errorFromBody(status, text, url, requestId), retryAfterMs: parseRetryAfter(response.headers.get("retry-after")) };
}

function errorFromBody(status: number, text: string, url: string, requestId: string | undefined): RegistryError {
  const body = ErrorBodySchema.safeParse(parseJson(text));
  if (body.success) {
    const { code, message, details } = body.data.error;
    return new RegistryError({ status, code, message, details, requestId: body.data.error.requestId ?? requestId });
  }
  // Not our server's envelope: a proxy or load balancer answered.
  const snippet = text.length > 200 ? `${text.slice(0, 200)}...` : text;
  return new RegistryError({ status, code: "http_error", message: `GET ${url}: HTTP ${status}${snippet ? `: ${snippet}` : ""}`, requestId });
}

function networkError(err: unknown, url: string, timeoutMs: number): RegistryError {
  if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) {
    return new RegistryError({ status: 0, code: "timeout", message: `GET ${url}: no answer within ${timeoutMs} ms`, cause: err });
  }
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const reason = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
  return new RegistryError({ status: 0, code: "network_error", message: `GET ${url}: ${reason}`, cause: err });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Retry-After in delay-seconds or as an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
