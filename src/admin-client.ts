// The CLI's way to a running server's API: admin commands while a server owns the embedded database, and the
// prompt files commands (push, export).
import { ErrorBodySchema } from "@promptreg/client/contract";

export const ADMIN_TIMEOUT_MS = 10_000;

export interface AdminClientOptions {
  /** The server's address (`http://127.0.0.1:4000`); a trailing `/api/v1` is accepted. */
  url: string;
  apiKey: string;
  timeoutMs?: number;
}

export type AdminClient = ReturnType<typeof createAdminClient>;

/** An answer of the server that is one of its errors: the caller may act on the status (a 404, say). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly details: unknown,
  ) {
    super(message);
  }
}

/** Every failure is an Error whose message says what to check: the address, the key, or what the server said. */
export function createAdminClient({ url, apiKey, timeoutMs = ADMIN_TIMEOUT_MS }: AdminClientOptions) {
  const root = url.replace(/\/+$/, "").replace(/\/api\/v1$/, "");

  /** A file's body (an import) rather than JSON, or an answer that is a file (an export), as a stream. */
  interface Raw {
    body?: { data: Uint8Array | string; contentType: string };
    stream?: boolean;
    timeoutMs?: number;
  }

  async function call(
    method: "GET" | "POST" | "DELETE",
    apiPath: string,
    body?: unknown,
    raw: Raw = {},
  ): Promise<unknown> {
    let res: Response;
    const limit = raw.timeoutMs ?? timeoutMs;
    try {
      res = await fetch(`${root}/api/v1${apiPath}`, {
        method,
        headers: {
          Authorization: `Bearer ${apiKey}`,
          ...(raw.body
            ? { "Content-Type": raw.body.contentType }
            : body === undefined
              ? {}
              : { "Content-Type": "application/json" }),
        },
        body: raw.body ? raw.body.data : body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(limit),
      });
    } catch (err) {
      const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
      if (e.name === "TimeoutError") throw new Error(`no answer from ${root} within ${limit / 1000} s`);
      const why = e.cause?.message || e.cause?.code || e.message;
      throw new Error(`cannot reach promptreg at ${root} (${why}): is the server running, and is --url right?`);
    }
    if (res.ok && raw.stream && res.body) return res.body;
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.ok && (json !== undefined || res.status === 204)) return json;
    const failure = ErrorBodySchema.safeParse(json);
    if (!failure.success)
      throw new Error(
        `${root} did not answer like a promptreg server: HTTP ${res.status} for ${method} /api/v1${apiPath}`,
      );
    const { code, message, details } = failure.data.error;
    const said =
      res.status === 401
        ? `the server at ${root} refused the key in PROMPTREG_API_KEY: ${message}`
        : res.status === 403
          ? `the key in PROMPTREG_API_KEY may not do this: ${message}`
          : `${root} answered ${res.status} ${code}: ${message}`;
    throw new ApiError(said, res.status, code, details);
  }

  return {
    root,
    get: (apiPath: string) => call("GET", apiPath),
    post: (apiPath: string, body: unknown) => call("POST", apiPath, body),
    delete: (apiPath: string) => call("DELETE", apiPath),
    /** A file up (its content type as given), with a longer wait: the server checks it whole before answering. */
    upload: (apiPath: string, data: Uint8Array | string, contentType: string, uploadTimeoutMs = 120_000) =>
      call("POST", apiPath, undefined, { body: { data, contentType }, timeoutMs: uploadTimeoutMs }),
    /** An answer that is a file (an export), as it arrives; `readTimeoutMs` bounds the whole download. */
    download: async (apiPath: string, readTimeoutMs = 600_000) =>
      (await call("GET", apiPath, undefined, { stream: true, timeoutMs: readTimeoutMs })) as ReadableStream<Uint8Array>,
  };
}
