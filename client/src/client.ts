// The registry client: resolves prompt references with a cache that never makes the application wait on the registry
// more than it has to, and falls back (last good value, snapshot, inline template) when the registry is unreachable:
// at once, without waiting again, once it has failed (the breaker).
import { LRUCache } from "lru-cache";
import semver from "semver";
import { Breaker } from "./breaker.js";
import { ProjectNameSchema, type PromptVersion, type Template } from "./contract.js";
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
import { HTTP_DEFAULTS, resolveRemote, trimBaseUrl, type HttpSettings } from "./http.js";
import { createPrompt, type Prompt, type PromptContext } from "./prompt.js";
import { analyzeTemplate, createRenderer } from "./render.js";
import { indexSnapshot, type Snapshot, type SnapshotIndex } from "./snapshot.js";

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
   * Called with failures nobody awaits: background revalidations, probes, and requests that ended after `get` fell
   * back; and with the warnings `snapshot_url_mismatch`, `snapshot_project_mismatch` and `project_mismatch`.
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

/**
 * Creates a registry client. It reads no environment variable and keeps its state (caches, renderer, breaker) to
 * itself.
 * @throws {TypeError | RangeError} on an invalid option
 * @throws {RegistryError} code `invalid_snapshot` for an invalid snapshot, `snapshot_project_mismatch` for a snapshot
 * of another project than the `project` option
 * @example
 * const registry = createClient({ baseUrl: "https://prompts.example.com", apiKey, snapshot: readSnapshotFile("prompts.snapshot.json") });
 */
export function createClient(options: ClientOptions): RegistryClient {
  if (typeof options.baseUrl !== "string" || !URL.canParse(options.baseUrl)) {
    throw new TypeError(`baseUrl must be an absolute URL, got ${JSON.stringify(options.baseUrl)}`);
  }
  if (typeof options.apiKey !== "string" || options.apiKey === "") throw new TypeError("apiKey is required");
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
  const ttlMs = setting("ttlMs");
  const coldBudgetMs = setting("coldBudgetMs");
  const now = options.now ?? Date.now;
  const baseUrl = trimBaseUrl(options.baseUrl);
  const http: HttpSettings = {
    baseUrl,
    apiKey: options.apiKey,
    fetch: options.fetch ?? globalThis.fetch,
    requestTimeoutMs: setting("requestTimeoutMs"),
    maxRetries: setting("maxRetries"),
    retryBaseDelayMs: setting("retryBaseDelayMs"),
    now,
  };
  const breaker = new Breaker({
    baseDelayMs: setting("breakerBaseDelayMs"),
    maxDelayMs: setting("breakerMaxDelayMs"),
    now,
  });
  const versions = new LruCache<CacheEntry>(setting("versionCacheSize"));
  const refs = new LruCache<CacheEntry>(setting("refCacheSize"));
  // Built once per reference and template, not at every call of an outage. Off the hot path: one joined key is fine.
  const fallbacks = new LRUCache<string, BuiltFallback>({ max: refs.maxSize });
  const inflight = new Map<string, Promise<CacheEntry>>();
  const abandoned = new WeakSet<Promise<CacheEntry>>();
  if (typeof options.snapshot === "string") {
    throw new TypeError(
      "snapshot takes a snapshot object; to use a file written by `promptreg pull`, pass readSnapshotFile(path) from '@promptreg/client/snapshot-file'",
    );
  }
  let snapshot: SnapshotIndex | undefined =
    options.snapshot === undefined ? undefined : indexSnapshot(options.snapshot, "the snapshot option");
  if (snapshot?.project !== undefined && options.project !== undefined && snapshot.project !== options.project) {
    throw new RegistryError({
      status: 0,
      code: "snapshot_project_mismatch",
      message: `${snapshot.source} was pulled from project '${snapshot.project}', but this client is for project '${options.project}': pull a snapshot with a key of '${options.project}'`,
    });
  }
  // The same registry is often reached under two URLs (an internal one at build time, a public one at run time), so
  // a different URL is worth a warning, not a refusal; the project is what identifies the prompts.
  if (snapshot && normalizeUrl(snapshot.baseUrl) !== normalizeUrl(baseUrl)) {
    const warning = new RegistryError({
      status: 0,
      code: "snapshot_url_mismatch",
      message: `${snapshot.source} was pulled from ${snapshot.baseUrl}, not from this client's registry ${baseUrl}`,
    });
    // After createClient returns: an onError that uses the client must not meet it uninitialised.
    queueMicrotask(() => report(warning));
  }
  /** The project the registry said the key belongs to has been compared with what the client was told. */
  let projectChecked = false;
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

  /**
   * On the first answer that names the key's project, a refusal such as a 404 included: a snapshot of another project
   * is dropped, not served later.
   */
  function checkProject(project: string): void {
    if (projectChecked) return;
    projectChecked = true;
    if (options.project !== undefined && project !== options.project) {
      report(
        new RegistryError({
          status: 0,
          code: "project_mismatch",
          message: `the API key belongs to project '${project}', but this client was created for project '${options.project}'`,
        }),
      );
    }
    if (snapshot?.project !== undefined && snapshot.project !== project) {
      report(
        new RegistryError({
          status: 0,
          code: "snapshot_project_mismatch",
          message: `${snapshot.source} was pulled from project '${snapshot.project}', but the API key belongs to project '${project}': the snapshot will not be used`,
        }),
      );
      snapshot = undefined;
    }
  }

  /**
   * One request per key at a time: concurrent callers and refreshes share it. Every request tells the breaker how it
   * went; one still running after `coldBudgetMs` opens it, so that no other call waits for it.
   */
  function fetchEntry(target: Target, previous: CacheEntry | undefined, probe = false): Promise<CacheEntry> {
    const running = inflight.get(target.key);
    if (running) return running;
    // invalidate() drops the key from `inflight`: an answer to a request made before it must not be cached.
    const current = () => inflight.get(target.key) === request;
    const request = (async (): Promise<CacheEntry> => {
      const generation = breaker.started();
      const budget = probe ? undefined : setTimeout(() => breaker.trip(budgetError()), coldBudgetMs);
      budget?.unref?.();
      let result: Awaited<ReturnType<typeof resolveRemote>>;
      try {
        result = await resolveRemote(http, target.name, target.ref, {
          etag: previous?.etag,
          deadline: now() + coldBudgetMs,
          onProject: checkProject,
          ...(probe ? { maxRetries: 0 } : {}),
        });
      } catch (err) {
        if (isDefinitive(err)) {
          breaker.answered();
          // The label (or the prompt) was deleted: serving the old value forever would hide it.
          if (err.status === 404 && current()) cacheOf(target).delete(target.name, target.ref);
        } else {
          breaker.failed(generation, err);
        }
        throw err;
      } finally {
        clearTimeout(budget);
      }
      breaker.answered();
      const expiresAt = target.exact ? Infinity : now() + ttlMs;
      let entry: CacheEntry;
      if (result.notModified) {
        entry = previous!;
        if (!current()) return entry;
        entry.expiresAt = expiresAt;
        entry.refreshAfter = expiresAt;
        entry.invalidated = false;
      } else {
        entry = {
          version: deepFreeze(result.version),
          etag: result.etag,
          expiresAt,
          refreshAfter: expiresAt,
          invalidated: false,
        };
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

  function budgetError(): RegistryError {
    return new RegistryError({
      status: 0,
      code: "timeout",
      message: `no answer within coldBudgetMs (${coldBudgetMs} ms)`,
    });
  }

  /** While the registry answers: refresh an expired value in the background. */
  function revalidate(target: Target, entry: CacheEntry): void {
    if (inflight.has(target.key)) return;
    fetchEntry(target, entry).catch((err: unknown) => {
      // A refused refresh (the registry answered): do not ask again on every call. An unreachable registry opened the
      // breaker instead, which decides when to ask again.
      if (isDefinitive(err)) entry.refreshAfter = now() + ttlMs;
      report(err);
    });
  }

  /** While the breaker is open: the call that finds a probe due sends it, and does not wait for it. */
  function probe(target: Target, entry: CacheEntry | undefined): void {
    if (breaker.probeDue()) fetchEntry(target, entry, true).catch(report);
  }

  async function fetchCold(
    target: Target,
    previous: CacheEntry | undefined,
    selector: GetOptions | undefined,
  ): Promise<Prompt> {
    const request = fetchEntry(target, previous);
    let failure: unknown;
    let stopWaiting = () => {};
    try {
      // The breaker opens when this request fails, runs past coldBudgetMs, or another request fails first.
      const opened = new Promise<undefined>((resolve) => (stopWaiting = breaker.whenOpen(() => resolve(undefined))));
      const entry = await Promise.race([request, opened]);
      if (entry) return createPrompt(entry.version, "network", contextFor(selector));
      failure = breaker.lastFailure;
      // Concurrent callers that all gave up share the request: a failure other than the one served for is reported once.
      if (!abandoned.has(request)) {
        abandoned.add(request);
        request.catch((err: unknown) => err !== failure && report(err));
      }
    } catch (err) {
      if (isDefinitive(err)) throw err;
      failure = err;
    } finally {
      stopWaiting();
    }
    return serveWithoutRegistry(target, previous, selector, failure);
  }

  /** The last good value, the snapshot, the inline fallback, in this order; or `unavailable`. Never waits. */
  function serveWithoutRegistry(
    target: Target,
    previous: CacheEntry | undefined,
    selector: GetOptions | undefined,
    failure: unknown,
    breakerOpen = false,
  ): Prompt {
    if (previous) {
      // Served stale until the registry answers again, then revalidated in the background like any expired value.
      previous.invalidated = false;
      previous.expiresAt = 0;
      return createPrompt(previous.version, "stale", contextFor(selector));
    }
    const saved = snapshot?.find(target.name, target.ref, target.exact);
    if (saved) return createPrompt(saved, "snapshot", contextFor(selector));
    if (selector?.fallback !== undefined) {
      const version = fallbackFor(target, selector);
      const linkable = version.version !== FALLBACK_VERSION;
      return createPrompt(version, "fallback", { ...contextFor(selector), baseUrl: linkable ? baseUrl : undefined });
    }
    const cause = failure instanceof Error ? failure.message : String(failure);
    // With the breaker open this call asked nobody: the reason is the failure that opened it, not this call's wait.
    const reason = breakerOpen
      ? `the registry is unreachable; not asked while the breaker is open, last failure: ${cause}`
      : cause;
    throw new RegistryError({
      status: 0,
      code: "unavailable",
      message: `prompt ${formatPromptRef(target.name, target.ref)} is unavailable (${reason}) and there is no cached, snapshot or fallback value`,
      cause: failure,
    });
  }

  function fallbackFor(target: Target, selector: GetOptions): PromptVersion {
    const given = selector.fallback!;
    const built = fallbacks.get(target.key);
    if (built?.given === given) return built.version;
    // Inline fallbacks are usually literals, a new object at every call: the same content is the same fallback.
    const json = JSON.stringify(given);
    if (built?.json === json) {
      built.given = given;
      return built.version;
    }
    // Built from a copy: the caller's objects stay theirs, and the version can be frozen like any other.
    const version = deepFreeze(fallbackVersion(target, selector, JSON.parse(json) as Fallback));
    fallbacks.set(target.key, { given, json, version });
    return version;
  }

  async function get(name: string, selector?: GetOptions): Promise<Prompt> {
    const target = targetOf(name, refOf(selector));
    if (selector?.fallback !== undefined) checkFallback(selector.fallback);
    const entry = cacheOf(target).get(target.name, target.ref);
    if (entry !== undefined && !entry.invalidated) {
      const time = now();
      if (time < entry.expiresAt) return createPrompt(entry.version, "cache", contextFor(selector));
      if (breaker.isOpen) {
        probe(target, entry);
        return createPrompt(entry.version, "stale", contextFor(selector));
      }
      if (time < entry.refreshAfter) return createPrompt(entry.version, "stale", contextFor(selector));
      revalidate(target, entry);
      return createPrompt(entry.version, "cache", contextFor(selector));
    }
    if (breaker.isOpen) {
      probe(target, entry);
      return serveWithoutRegistry(target, entry, selector, breaker.lastFailure, true);
    }
    return fetchCold(target, entry, selector);
  }

  async function preload(list: PromptRef[], preloadOptions: PreloadOptions = {}): Promise<PreloadResult> {
    const targets = list.map((item) => {
      const { name, ref } = parsePromptRef(item);
      return targetOf(name, ref);
    });
    const results = await Promise.allSettled(
      targets.map((target) => fetchEntry(target, cacheOf(target).peek(target.name, target.ref))),
    );
    const loaded: string[] = [];
    const failed: PreloadResult["failed"] = [];
    results.forEach((result, i) => {
      const ref = formatPromptRef(targets[i]!.name, targets[i]!.ref);
      if (result.status === "fulfilled") loaded.push(ref);
      else failed.push({ ref, error: result.reason as RegistryError });
    });
    if (failed.length > 0 && preloadOptions.failOnError)
      throw batchError("preload_failed", "preloading", targets.length, failed);
    for (const { error } of failed) report(error);
    return { loaded, failed };
  }

  function invalidate(name: string, selector?: RefSelector): void {
    const targets = selector
      ? [targetOf(name, refOf(selector))]
      : [
          ...refs.refsOf(name).map((ref) => targetOf(name, ref)),
          ...versions.refsOf(name).map((ref) => targetOf(name, ref)),
        ];
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

/** The version of an inline fallback that does not say which version it was copied from. */
const FALLBACK_VERSION = "fallback";

interface BuiltFallback {
  /** The fallback as last given, to recognise it by identity. */
  given: Fallback;
  json: string;
  version: PromptVersion;
}

function normalizeUrl(url: string): string {
  return URL.canParse(url) ? trimBaseUrl(new URL(url).href) : url;
}

/** Checked at every call, not only during an outage: a wrong version must show up when the code is written. */
function checkFallback(fallback: Fallback): void {
  if (typeof fallback !== "object" || Array.isArray(fallback) || fallback.version === undefined) return;
  if (typeof fallback.version !== "string" || semver.valid(fallback.version) !== fallback.version) {
    throw new TypeError(
      `fallback.version must be an exact version such as 1.4.2, got ${JSON.stringify(fallback.version)}`,
    );
  }
}

function fallbackVersion(target: Target, selector: GetOptions, fallback: Fallback): PromptVersion {
  const { template, config, version } =
    typeof fallback === "string" || Array.isArray(fallback)
      ? { template: fallback, config: {}, version: undefined }
      : { template: fallback.template, config: fallback.config ?? {}, version: fallback.version };
  return {
    id: "",
    promptId: "",
    name: target.name,
    type: typeof template === "string" ? "text" : "chat",
    // The version it was copied from, when it says; else an exact version asked for is the version this stands in
    // for; a label or range says nothing about it.
    version: version ?? (target.exact ? target.ref : FALLBACK_VERSION),
    template,
    config,
    variables: analyzeTemplate(template),
    variablesSchema: null,
    commitMessage: "",
    author: "",
    // The renderer caches compiled templates by this key. The content itself rather than a digest: exact, and no
    // synchronous hash function exists in browsers (Web Crypto's is asynchronous).
    contentHash: `fallback:${JSON.stringify(template)}`,
    createdAt: "",
    // `production@2026-11-01T12:00:00Z` stands in for the label `production`.
    ...(selector.version === undefined ? { label: target.ref.split("@")[0] } : {}),
  };
}
