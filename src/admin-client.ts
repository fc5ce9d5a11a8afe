// Admin commands through a running server's API: the CLI's way in while a server owns the embedded database.
import { ErrorBodySchema } from "@promptreg/client/contract";

export const ADMIN_TIMEOUT_MS = 10_000;

export interface AdminClientOptions {
  /** The server's address (`http://127.0.0.1:4000`); a trailing `/api/v1` is accepted. */
  url: string;
  apiKey: string;
  timeoutMs?: number;
}

export type AdminClient = ReturnType<typeof createAdminClient>;

/** Every failure is an Error whose message says what to check: the address, the key, or what the server said. */
export function createAdminClient({ url, apiKey, timeoutMs = ADMIN_TIMEOUT_MS }: AdminClientOptions) {
  const root = url.replace(/\/+$/, "").replace(/\/api\/v1$/, "");
  return {
    root,
    async post(apiPath: string, body: unknown): Promise<unknown> {
      let res: Response;
      try {
        res = await fetch(`${root}/api/v1${apiPath}`, {
          method: "POST",
          headers: { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json" },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
        if (e.name === "TimeoutError") throw new Error(`no answer from ${root} within ${timeoutMs / 1000} s`);
        const why = e.cause?.message || e.cause?.code || e.message;
        throw new Error(`cannot reach promptreg at ${root} (${why}): is the server running, and is --url right?`);
      }
      const text = await res.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      if (res.ok && json !== undefined) return json;
      const failure = ErrorBodySchema.safeParse(json);
      if (!failure.success)
        throw new Error(
          `${root} did not answer like a promptreg server: HTTP ${res.status} for POST /api/v1${apiPath}`,
        );
      const { code, message } = failure.data.error;
      if (res.status === 401) throw new Error(`the server at ${root} refused the key in PROMPTREG_API_KEY: ${message}`);
      if (res.status === 403) throw new Error(`the key in PROMPTREG_API_KEY may not do this: ${message}`);
      throw new Error(`${root} answered ${res.status} ${code}: ${message}`);
    },
  };
}
