// The one error a caller of the client has to handle for anything that went wrong talking to the registry.

export interface RegistryErrorInit {
  status: number;
  code: string;
  message: string;
  details?: unknown;
  requestId?: string;
  cause?: unknown;
}

/**
 * Every failure of the registry client: a non-2xx answer (with the server's `code`, `message`, `details` and
 * `requestId`), a network failure (`status` 0, code `network_error` or `timeout`), or no usable answer and nothing to
 * fall back on (code `unavailable`, the last failure as `cause`).
 */
export class RegistryError extends Error {
  override readonly name = "RegistryError";
  /** The HTTP status, or 0 when no answer was received. */
  readonly status: number;
  /** The server's error code (`not_found`, `unauthorized`...), or `network_error`, `timeout`, `unavailable`... */
  readonly code: string;
  readonly details?: unknown;
  /** The server's request id, to find the request in its logs. */
  readonly requestId?: string;

  constructor(init: RegistryErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    if (init.details !== undefined) this.details = init.details;
    if (init.requestId !== undefined) this.requestId = init.requestId;
  }
}

/**
 * An answer that a fallback must not hide: the server understood the request and refused it (bad key, missing
 * prompt or label, invalid reference). 408 and 429 are not such answers, they say "try again".
 */
export function isDefinitive(err: unknown): err is RegistryError {
  return (
    err instanceof RegistryError && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429
  );
}

/** One error for a batch (preload, snapshot pull) that names every reference that failed and why. */
export function batchError(
  code: string,
  what: string,
  total: number,
  failures: { ref: string; error: unknown }[],
): RegistryError {
  const described = failures.map(({ ref, error }) => {
    const e = error instanceof RegistryError ? error : undefined;
    return {
      ref,
      status: e?.status ?? 0,
      code: e?.code ?? "error",
      message: error instanceof Error ? error.message : String(error),
    };
  });
  const list = described.map((f) => `${f.ref} (${f.status ? `${f.status} ` : ""}${f.code}: ${f.message})`).join("; ");
  return new RegistryError({
    status: 0,
    code,
    message: `${what} failed for ${failures.length} of ${total} prompt reference${total === 1 ? "" : "s"}: ${list}`,
    details: { failures: described },
  });
}
