// The client's options and public types, and the one place their defaults are merged and checked.
import { ProjectNameSchema, type Template } from "./contract.js";
import type { PromptRef, RefSelector } from "./cache.js";
import type { RegistryError } from "./errors.js";
import type { ExperimentSummary, RunExperimentOptions } from "./experiment.js";
import { HTTP_DEFAULTS } from "./http.js";
import type { Prompt } from "./prompt.js";
import type { Snapshot } from "./snapshot.js";

export interface ClientOptions {
  /** The registry's URL, e.g. `https://prompts.example.com`. Required. */
  baseUrl: string;
  /** An API key, sent as `Authorization: Bearer`. Required; the `read` role is enough. */
  apiKey: string;
  /** The fetch implementation. Default: the global `fetch`. */
  fetch?: typeof globalThis.fetch;
  /**
   * How long a label, a range or `latest` is served from the cache without asking the server. After that the cached
   * value is still returned at once while one background request revalidates it: as source `cache` while the registry
   * answers, as `stale` once it has failed (see `breakerBaseDelayMs`). Exact versions never expire. Default: 60 000 ms.
   */
  ttlMs?: number;
  /**
   * How long `get` waits for the registry when it has nothing cached, retries included, before it falls back. The
   * request itself may go on (up to `requestTimeoutMs`) and fill the cache for the next call. A request still running
   * after this long counts as a registry failure: it opens the breaker. Default: 2 000 ms.
   */
  coldBudgetMs?: number;
  /** Timeout of each HTTP attempt, reading the body included. Default: 10 000 ms. */
  requestTimeoutMs?: number;
  /** Retries after a network error, a timeout, 408, 429 or 5xx; never started past `coldBudgetMs`. Default: 2. */
  maxRetries?: number;
  /** First retry delay, doubled at each retry, with jitter; a `Retry-After` header takes precedence. Default: 200 ms. */
  retryBaseDelayMs?: number;
  /** Exact versions kept in memory (least recently used out first). Default: 500. */
  versionCacheSize?: number;
  /** Labels, ranges and `latest` kept in memory (least recently used out first). Default: 1 000. */
  refCacheSize?: number;
  /**
   * The circuit breaker. When the registry fails (a network error, a timeout, no answer within `coldBudgetMs`, 5xx or
   * 429 after retries; never a definitive answer such as 404) the breaker opens and `get` stops waiting for it: it
   * serves the last good value (`stale`), the snapshot or the inline fallback at once, or throws `unavailable` at once
   * when it has none of them. Meanwhile one request at a time, a probe sent by the first `get` after a delay, asks the
   * registry again; the first answer closes the breaker. The delay starts at about this value and doubles after each
   * failed probe, up to `breakerMaxDelayMs`; each delay is drawn between half and all of it, so that clients that saw
   * the same outage do not probe in step. Default: 1 000 ms.
   */
  breakerBaseDelayMs?: number;
  /** The longest delay between two probes of an open breaker. Default: 30 000 ms. */
  breakerMaxDelayMs?: number;
  /**
   * The clock, in epoch ms, for TTLs, the breaker's probe delays and retry deadlines; tests pass one they advance.
   * Waiting itself uses real timers (`coldBudgetMs`, `requestTimeoutMs`, the pause before a retry). Default: `Date.now`.
   */
  now?: () => number;
  /**
   * The project the API key belongs to. A snapshot pulled from another project is refused when the client is created,
   * and an answer of the registry saying that the key belongs to another project is passed to `onError`. Default:
   * not checked against an option (a snapshot's project is still checked against the registry's first answer).
   */
  project?: string;
  /**
   * Prompts to serve when the registry is unreachable and nothing is cached: a snapshot, from `pullSnapshot` or, on
   * Node, from a file written by `promptreg pull` through `readSnapshotFile(path)` of `@promptreg/client/snapshot-file`
   * (read when the application starts, so that a bad file fails then rather than during an outage). It is refused (`snapshot_project_mismatch`) when it records
   * another project than `project`; it is dropped, with the same code passed to `onError`, when the registry's first
   * answer says the key belongs to another project than the snapshot's; pulled from another URL than `baseUrl`, it is
   * used, with a `snapshot_url_mismatch` warning passed to `onError` (the same registry often has two URLs). Snapshots
   * written before they recorded a project are read as before, without the project checks. Default: none.
   */
  snapshot?: Snapshot;
  /**
   * Live updates: once the client holds a label or a range, it subscribes to the registry's stream of changes
   * (`GET /api/v1/events`, one connection per client) and, when one touches a reference it holds, refreshes that
   * reference at once (one request with its ETag), so that a rollback reaches it within a second rather than within
   * `ttlMs`. Nothing waits on the stream: `get` serves exactly as without it, and while the stream is down (refused,
   * unreachable, reconnecting with backoff and jitter) the TTL is all there is, as without it. A reconnection resumes
   * after the last event seen; when the server cannot resume exactly, everything held is refreshed. On Node the
   * stream does not keep the process alive (as an unref'd timer); elsewhere `close()` ends it. Default: true on Node,
   * false elsewhere (a browser, or a runtime whose fetch cannot stream, would rather poll).
   */
  live?: boolean;
  /**
   * Called with failures nobody awaits: background revalidations, probes, and requests that ended after `get` fell
   * back; the live stream's refusals (401, 403, or 404 from a registry without it; never its network failures); and
   * with the warnings `snapshot_url_mismatch`, `snapshot_project_mismatch` and `project_mismatch`.
   * Default: ignored.
   */
  onError?: (error: RegistryError) => void;
}

/**
 * An inline template to use when the registry is unreachable: a template, or a template with its config and, when it
 * is a copy of a published version, that `version` (exact, e.g. `1.4.2`): the fallback prompt then has that version
 * and its spans are linked to it (source `fallback`). Without one the version is `fallback` (or the exact version
 * asked for).
 */
export type Fallback = Template | { template: Template; config?: Record<string, unknown>; version?: string };

export interface GetOptions extends RefSelector {
  /**
   * Used when the registry is unreachable and no cached or snapshot value exists (source `fallback`). Built once per
   * reference and content, not at every call.
   */
  fallback?: Fallback;
  /** `session.id` on spans linked by the returned prompt. */
  sessionId?: string;
  /** `user.id` on spans linked by the returned prompt. */
  userId?: string;
  /**
   * Who this call is for in a guarded rollout's split: the same key always gets the same version while the rollout
   * lasts. Default: `userId`, else `sessionId`, else a new random key for each call.
   */
  assignmentKey?: string;
}

export interface PreloadOptions {
  /** Reject, naming every reference that failed, unless all were fetched from the registry. Default: false. */
  failOnError?: boolean;
}

export interface PreloadResult {
  /** The references fetched, as `name:ref`. */
  loaded: string[];
  failed: { ref: string; error: RegistryError }[];
}

export interface RegistryClient {
  /**
   * Resolves a prompt: a label (default `production`), or a `version` that is exact (`1.4.2`) or a range (`^1.4`).
   *
   * Served from memory when it can be: exact versions are cached for the life of the process, labels and ranges for
   * `ttlMs` and then still served while revalidated in the background (a label deleted on the server is evicted).
   * When the registry is unreachable (network error, timeout, `coldBudgetMs` exceeded, 5xx or 429 after retries) it
   * returns, in this order: the last value it had (source `stale`), the snapshot's entry, the inline `fallback`; and
   * from then on it does so at once, without waiting for the registry, until a probe finds it back (the breaker, see
   * `breakerBaseDelayMs`).
   *
   * `prompt.source` says why this value was served: `network` (fetched for this call), `cache` (from memory while the
   * registry answers: fresh, or past `ttlMs` while a background refresh runs), `stale` (from memory past `ttlMs`, or
   * after `invalidate`, because the registry failed or refused the refresh), `snapshot`, `fallback`.
   *
   * A definitive answer from the server (401, 403, 404, 422...) is thrown, never replaced by a fallback: it is a
   * configuration error (wrong key, misspelt name, unknown label) that a fallback would hide until the next outage.
   * @throws {RegistryError} that answer; or code `unavailable` when unreachable with nothing to fall back on (at once
   * while the breaker is open)
   * @throws {TypeError} when both `label` and `version` are given, or `fallback.version` is not an exact version
   * @example
   * const prompt = await registry.get("support/triage", { label: "production", fallback: "Triage: {{question}}" });
   * const text = prompt.render({ question });
   */
  get(name: string, options?: GetOptions): Promise<Prompt>;
  /**
   * Fetches references from the registry into the cache, e.g. at startup. A string is `name` (label `production`) or
   * `name:ref`, split at the first `:` (names never contain one; refs may, as in `production@2026-11-01T12:00:00Z`).
   * Failures are passed to `onError`, or rejected with `failOnError`.
   * @throws {RegistryError} code `preload_failed`, naming each failed reference, with `failOnError`
   */
  preload(refs: PromptRef[], options?: PreloadOptions): Promise<PreloadResult>;
  /**
   * Makes the next `get` of exactly this name and reference ask the server (the value stays as a fallback). Without a
   * selector: every reference of exactly this name. Never by prefix: invalidating `foo` leaves `foobar` alone.
   */
  invalidate(name: string, options?: RefSelector): void;
  /**
   * A client run of an experiment: every item of a dataset version run against several versions of a prompt by
   * `task`, the application's own code, with at most `concurrency` tasks at once. Each version is rendered with the
   * item's variables; the task's LLM spans are linked to the version (as `trace` links them) and tagged with
   * `promptreg.experiment.id`, `promptreg.experiment.run` and `promptreg.dataset.item`. Its latency, the tokens and
   * cost it reports, or its error, and the verdicts of `evaluators` are sent in batches; the server judges each output
   * with `serverEvaluators`. Run it again with `experimentId` to resume: items already sent are not run again. The
   * key needs the `write` role.
   * @throws {RegistryError} a refusal or failure of the server; code `experiment_mismatch` when `experimentId` is not
   * a client run that can be resumed with these options
   * @throws {TypeError} on invalid options
   * @example
   * const { experimentId } = await registry.runExperiment({
   *   dataset: "golden", prompt: "support/answer", versions: ["production", "2.0.0"],
   *   serverEvaluators: ["exact_match"],
   *   task: async (messages, item, { prompt }) => agent.answer(messages, prompt.config),
   * });
   */
  runExperiment(options: RunExperimentOptions): Promise<ExperimentSummary>;
  /**
   * Ends the live-update stream (see `live`) for good; the cache goes on serving with its TTL. Needed only where the
   * stream would keep the program running (not on Node's fetch, which the stream does not hold open).
   */
  close(): void;
}

const DEFAULTS = {
  ttlMs: 60_000,
  coldBudgetMs: 2_000,
  ...HTTP_DEFAULTS,
  versionCacheSize: 500,
  refCacheSize: 1_000,
  breakerBaseDelayMs: 1_000,
  breakerMaxDelayMs: 30_000,
};

/** The options with their defaults, checked. */
export interface Settings {
  ttlMs: number;
  coldBudgetMs: number;
  requestTimeoutMs: number;
  maxRetries: number;
  retryBaseDelayMs: number;
  breakerBaseDelayMs: number;
  breakerMaxDelayMs: number;
  versionCacheSize: number;
  refCacheSize: number;
  live: boolean;
  now: () => number;
}

/**
 * Checks `options` and merges in the defaults.
 * @throws {TypeError | RangeError} on an invalid option
 */
export function readOptions(options: ClientOptions): Settings {
  if (typeof options.baseUrl !== "string" || !URL.canParse(options.baseUrl)) {
    throw new TypeError(`baseUrl must be an absolute URL, got ${JSON.stringify(options.baseUrl)}`);
  }
  if (typeof options.apiKey !== "string" || options.apiKey === "") throw new TypeError("apiKey is required");
  if (options.live !== undefined && typeof options.live !== "boolean")
    throw new TypeError(`live must be true or false, got ${JSON.stringify(options.live)}`);
  if (options.now !== undefined && typeof options.now !== "function")
    throw new TypeError("now must be a function returning epoch ms");
  if (options.project !== undefined && !ProjectNameSchema.safeParse(options.project).success) {
    throw new TypeError(
      `project must be a project name (^[a-z0-9][a-z0-9_-]{0,62}$), got ${JSON.stringify(options.project)}`,
    );
  }
  const setting = (key: keyof typeof DEFAULTS) => {
    const value = options[key] ?? DEFAULTS[key];
    if (!(typeof value === "number" && value >= 0)) throw new RangeError(`${key} must be a number >= 0, got ${value}`);
    return value;
  };
  return {
    ttlMs: setting("ttlMs"),
    coldBudgetMs: setting("coldBudgetMs"),
    requestTimeoutMs: setting("requestTimeoutMs"),
    maxRetries: setting("maxRetries"),
    retryBaseDelayMs: setting("retryBaseDelayMs"),
    breakerBaseDelayMs: setting("breakerBaseDelayMs"),
    breakerMaxDelayMs: setting("breakerMaxDelayMs"),
    versionCacheSize: setting("versionCacheSize"),
    refCacheSize: setting("refCacheSize"),
    live: options.live ?? isNode(),
    now: options.now ?? Date.now,
  };
}

/** Node (and runtimes that pass for it): where fetch streams a body and the stream can be kept from holding the process. */
function isNode(): boolean {
  return typeof (globalThis as { process?: { versions?: { node?: unknown } } }).process?.versions?.node === "string";
}
