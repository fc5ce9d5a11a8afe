// The registry client: resolves prompt references with a cache that never makes the application wait on the registry
// more than it has to, and falls back (last good value, snapshot, inline template) when the registry is unreachable.
import { createHash } from "node:crypto";
import type { PromptVersion, Template } from "./contract.js";
import {
  LruCache,
  deepFreeze,
  formatPromptRef,
  keyOf,
  parsePromptRef,
  refOf,
  targetOf,
  type CacheEntry,
  type PromptRef,
  type RefSelector,
  type Target,
} from "./cache.js";
import { RegistryError, batchError, isDefinitive } from "./errors.js";
import { resolveRemote, type HttpSettings } from "./http.js";
import { createPrompt, type Prompt, type PromptContext } from "./prompt.js";
import { analyzeTemplate, createRenderer } from "./render.js";
import { indexSnapshot, readSnapshotFile, type Snapshot, type SnapshotIndex } from "./snapshot.js";

export interface ClientOptions {
  /** The registry's URL, e.g. `https://prompts.example.com`. Required. */
  baseUrl: string;
  /** An API key, sent as `Authorization: Bearer`. Required; the `read` role is enough. */
  apiKey: string;
  /** The fetch implementation. Default: the global `fetch`. */
  fetch?: typeof globalThis.fetch;
  /**
   * How long a label, a range or `latest` is served from the cache without asking the server. After that the cached
   * value is still returned at once (source `stale`) while one background request revalidates it. Exact versions never
   * expire. Default: 60 000 ms.
   */
  ttlMs?: number;
  /**
   * How long `get` waits for the registry when it has nothing cached, retries included, before it falls back. The
   * request itself may go on (up to `requestTimeoutMs`) and fill the cache for the next call. Default: 2 000 ms.
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
   * Prompts to serve when the registry is unreachable and nothing is cached: the path of a snapshot file written by
   * `promptreg pull`, or a snapshot object (from `pullSnapshot`). A file is read when the client is created, so a bad
   * one fails at startup rather than during an outage. Default: none.
   */
  snapshot?: string | Snapshot;
  /**
   * Called with failures nobody awaits: background revalidations, and requests that ended after `get` fell back.
   * Default: ignored.
   */
  onError?: (error: RegistryError) => void;
}

/** An inline template to use when the registry is unreachable: a template, or a template and its config. */
export type Fallback = Template | { template: Template; config?: Record<string, unknown> };

export interface GetOptions extends RefSelector {
  /** Used when the registry is unreachable and no cached or snapshot value exists (source `fallback`). */
  fallback?: Fallback;
  /** `session.id` on spans linked by the returned prompt. */
  sessionId?: string;
  /** `user.id` on spans linked by the returned prompt. */
  userId?: string;
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
   * `ttlMs` and then returned stale while revalidated in the background (a label deleted on the server is evicted).
   * When the registry is unreachable (network error, timeout, `coldBudgetMs` exceeded, 5xx or 429 after retries) it
   * returns, in this order: the last value it had (source `stale`), the snapshot's entry, the inline `fallback`.
   *
   * A definitive answer from the server (401, 403, 404, 422...) is thrown, never replaced by a fallback: it is a
   * configuration error (wrong key, misspelt name, unknown label) that a fallback would hide until the next outage.
   * @throws {RegistryError} that answer; or code `unavailable` when unreachable with nothing to fall back on
   * @throws {TypeError} when both `label` and `version` are given
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
}

const DEFAULTS = {
  ttlMs: 60_000,
  coldBudgetMs: 2_000,
  requestTimeoutMs: 10_000,
  maxRetries: 2,
  retryBaseDelayMs: 200,
  versionCacheSize: 500,
  refCacheSize: 1_000,
};

/**
 * Creates a registry client. It reads no environment variable and keeps its state (caches, renderer) to itself.
 * @example
 * const registry = createClient({ baseUrl: "https://prompts.example.com", apiKey, snapshot: "prompts.snapshot.json" });
 */
export function createClient(options: ClientOptions): RegistryClient {
  if (typeof options.baseUrl !== "string" || !URL.canParse(options.baseUrl)) {
    throw new TypeError(`baseUrl must be an absolute URL, got ${JSON.stringify(options.baseUrl)}`);
  }
  if (typeof options.apiKey !== "string" || options.apiKey === "") throw new TypeError("apiKey is required");
  const setting = (key: keyof typeof DEFAULTS) => {
    const value = options[key] ?? DEFAULTS[key];
    if (!(typeof value === "number" && value >= 0)) throw new RangeError(`${key} must be a number >= 0, got ${value}`);
    return value;
  };
  const ttlMs = setting("ttlMs");
  const coldBudgetMs = setting("coldBudgetMs");
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const http: HttpSettings = {
    baseUrl,
    apiKey: options.apiKey,
    fetch: options.fetch ?? globalThis.fetch,
    requestTimeoutMs: setting("requestTimeoutMs"),
    maxRetries: setting("maxRetries"),
    retryBaseDelayMs: setting("retryBaseDelayMs"),
  };
  const versions = new LruCache<CacheEntry>(setting("versionCacheSize"));
  const refs = new LruCache<CacheEntry>(setting("refCacheSize"));
  const inflight = new Map<string, Promise<CacheEntry>>();
  const abandoned = new WeakSet<Promise<CacheEntry>>();
  const snapshot: SnapshotIndex | undefined =
    options.snapshot === undefined
      ? undefined
      : typeof options.snapshot === "string"
        ? readSnapshotFile(options.snapshot)
        : indexSnapshot(options.snapshot, "the snapshot option");
  const renderer = createRenderer();
  // Shared by every prompt of a plain `get`: the hot path allocates nothing it does not have to.
  const plainContext: PromptContext = { renderer, baseUrl, sessionId: undefined, userId: undefined };

  const cacheOf = (target: Target) => (target.exact ? versions : refs);

  function report(error: unknown): void {
    try {
      options.onError?.(error as RegistryError);
    } catch {
      // A failing error handler must not turn a background failure into an unhandled rejection.
    }
  }

  function contextFor(selector: GetOptions | undefined): PromptContext {
    if (selector?.sessionId === undefined && selector?.userId === undefined) return plainContext;
    return { renderer, baseUrl, sessionId: selector.sessionId, userId: selector.userId };
  }

  /** One request per key at a time: concurrent callers and refreshes share it. */
  function fetchEntry(target: Target, previous: CacheEntry | undefined): Promise<CacheEntry> {
    const running = inflight.get(target.key);
    if (running) return running;
    // invalidate() drops the key from `inflight`: an answer to a request made before it must not be cached.
    const current = () => inflight.get(target.key) === request;
    const request = (async (): Promise<CacheEntry> => {
      let result;
      try {
        result = await resolveRemote(http, target.name, target.ref, { etag: previous?.etag, deadline: Date.now() + coldBudgetMs });
      } catch (err) {
        // The label (or the prompt) was deleted: serving the old value forever would hide it.
        if (err instanceof RegistryError && err.status === 404 && current()) cacheOf(target).delete(target.name, target.ref);
        throw err;
      }
      const expiresAt = target.exact ? Infinity : Date.now() + ttlMs;
      let entry: CacheEntry;
      if (result.notModified) {
        entry = previous!;
        if (!current()) return entry;
        entry.expiresAt = expiresAt;
        entry.refreshAfter = expiresAt;
        entry.invalidated = false;
      } else {
        entry = { version: deepFreeze(result.version), etag: result.etag, expiresAt, refreshAfter: expiresAt, invalidated: false };
        if (!current()) return entry;
      }
      cacheOf(target).set(target.name, target.ref, entry);
      return entry;
    })();
    inflight.set(target.key, request);
    // Also marks the rejection handled: callers that gave up waiting are not there to catch it.
    request.then(
      () => current() && inflight.delete(target.key),
      () => current() && inflight.delete(target.key),
    );
    return request;
  }

  function revalidate(target: Target, entry: CacheEntry): void {
    if (inflight.has(target.key)) return;
    fetchEntry(target, entry).catch((err: unknown) => {
      // Keep serving the stale value, but do not ask again on every call while the registry is down.
      entry.refreshAfter = Date.now() + ttlMs;
      report(err);
    });
  }

  async function fetchCold(target: Target, previous: CacheEntry | undefined, selector: GetOptions | undefined): Promise<Prompt> {
    const request = fetchEntry(target, previous);
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), coldBudgetMs)));
    let failure: unknown;
    try {
      const entry = await Promise.race([request, budget]);
      if (entry) return createPrompt(entry.version, "network", contextFor(selector));
      failure = new RegistryError({ status: 0, code: "timeout", message: `no answer within coldBudgetMs (${coldBudgetMs} ms)` });
      // Concurrent callers that all gave up share the request: its failure is reported once.
      if (!abandoned.has(request)) {
        abandoned.add(request);
        request.catch(report);
      }
    } catch (err) {
      if (isDefinitive(err)) throw err;
      failure = err;
    } finally {
      clearTimeout(timer);
    }

    if (previous) {
      // Served stale from now on, revalidated in the background: an outage after invalidate() must not make every
      // call wait for the budget again.
      previous.invalidated = false;
      previous.expiresAt = 0;
      previous.refreshAfter = Date.now() + ttlMs;
      return createPrompt(previous.version, "stale", contextFor(selector));
    }
    const saved = snapshot?.find(target.name, target.ref, target.exact);
    if (saved) return createPrompt(saved, "snapshot", contextFor(selector));
    if (selector?.fallback !== undefined) {
      const version = fallbackVersion(target, selector);
      return createPrompt(version, "fallback", { ...contextFor(selector), baseUrl: target.exact ? baseUrl : undefined });
    }
    const reason = failure instanceof Error ? failure.message : String(failure);
    throw new RegistryError({
      status: 0,
      code: "unavailable",
      message: `prompt ${formatPromptRef(target.name, target.ref)} is unavailable (${reason}) and there is no cached, snapshot or fallback value`,
      cause: failure,
    });
  }

  async function get(name: string, selector?: GetOptions): Promise<Prompt> {
    const target = targetOf(name, refOf(selector));
    const entry = cacheOf(target).get(target.name, target.ref);
    if (entry !== undefined && !entry.invalidated) {
      const now = Date.now();
      if (now < entry.expiresAt) return createPrompt(entry.version, "cache", contextFor(selector));
      if (now >= entry.refreshAfter) revalidate(target, entry);
      return createPrompt(entry.version, "stale", contextFor(selector));
    }
    return fetchCold(target, entry, selector);
  }

  async function preload(list: PromptRef[], preloadOptions: PreloadOptions = {}): Promise<PreloadResult> {
    const targets = list.map((item) => {
      const { name, ref } = parsePromptRef(item);
      return targetOf(name, ref);
    });
    const results = await Promise.allSettled(targets.map((target) => fetchEntry(target, cacheOf(target).peek(target.name, target.ref))));
    const loaded: string[] = [];
    const failed: PreloadResult["failed"] = [];
    results.forEach((result, i) => {
      const ref = formatPromptRef(targets[i]!.name, targets[i]!.ref);
      if (result.status === "fulfilled") loaded.push(ref);
      else failed.push({ ref, error: result.reason as RegistryError });
    });
    if (failed.length > 0 && preloadOptions.failOnError) throw batchError("preload_failed", "preloading", targets.length, failed);
    for (const { error } of failed) report(error);
    return { loaded, failed };
  }

  function invalidate(name: string, selector?: RefSelector): void {
    const targets = selector
      ? [targetOf(name, refOf(selector))]
      : [...refs.refsOf(name).map((ref) => targetOf(name, ref)), ...versions.refsOf(name).map((ref) => targetOf(name, ref))];
    for (const target of targets) {
      inflight.delete(target.key);
      const entry = cacheOf(target).peek(target.name, target.ref);
      if (entry) entry.invalidated = true;
    }
    // A request for a reference not cached yet must not land in the cache either.
    if (!selector) for (const key of inflight.keys()) if (key.startsWith(keyOf(name, ""))) inflight.delete(key);
  }

  return { get, preload, invalidate };
}

function fallbackVersion(target: Target, selector: GetOptions): PromptVersion {
  const fallback = selector.fallback!;
  const { template, config } =
    typeof fallback === "string" || Array.isArray(fallback) ? { template: fallback, config: {} } : { template: fallback.template, config: fallback.config ?? {} };
  return {
    id: "",
    promptId: "",
    name: target.name,
    type: typeof template === "string" ? "text" : "chat",
    // An exact version asked for is the version this stands in for; a label or range says nothing about it.
    version: target.exact ? target.ref : "fallback",
    template,
    config,
    variables: analyzeTemplate(template),
    variablesSchema: null,
    commitMessage: "",
    author: "",
    // The renderer caches compiled templates by this hash.
    contentHash: `fallback:${createHash("sha256").update(JSON.stringify(template)).digest("base64url")}`,
    createdAt: "",
    // `production@2026-11-01T12:00:00Z` stands in for the label `production`.
    ...(selector.version === undefined ? { label: target.ref.split("@")[0] } : {}),
  };
}
