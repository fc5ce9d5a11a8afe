// The registry client: resolves prompt references with a cache that never makes the application wait on the registry
// more than it has to, and falls back (last good value, snapshot, inline template) when the registry is unreachable:
// at once, without waiting again, once it has failed (the breaker). Its parts: the options and their defaults
// (options.ts), requests and refreshes (remote.ts), the live-update stream that says what to refresh now (live.ts),
// inline fallbacks (fallback.ts), the project checks of the key and the snapshot (project-check.ts); this file holds
// the state they share and the calls.
import { Breaker } from "./breaker.js";
import {
  LruCache,
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
import { trimBaseUrl, type HttpSettings } from "./http.js";
import { FALLBACK_VERSION, checkFallback, createFallbacks } from "./fallback.js";
import {
  readOptions,
  type ClientOptions,
  type GetOptions,
  type PreloadOptions,
  type PreloadResult,
  type RegistryClient,
} from "./options.js";
import { openSnapshot, projectCheck } from "./project-check.js";
import { createPrompt, type Prompt, type PromptContext } from "./prompt.js";
import { createLive } from "./live.js";
import { createRemote } from "./remote.js";
import { rolloutArm } from "./rollout.js";
import type { PromptVersion } from "./contract.js";
import type { PromptSource } from "./types.js";
import { runExperiment } from "./experiment.js";
import { createRenderer } from "./render.js";

export type { ClientOptions, Fallback, GetOptions, PreloadOptions, PreloadResult, RegistryClient } from "./options.js";

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
  const { ttlMs, coldBudgetMs, now, ...settings } = readOptions(options);
  const baseUrl = trimBaseUrl(options.baseUrl);
  const http: HttpSettings = {
    baseUrl,
    apiKey: options.apiKey,
    fetch: options.fetch ?? globalThis.fetch,
    requestTimeoutMs: settings.requestTimeoutMs,
    maxRetries: settings.maxRetries,
    retryBaseDelayMs: settings.retryBaseDelayMs,
    now,
  };
  const breaker = new Breaker({
    baseDelayMs: settings.breakerBaseDelayMs,
    maxDelayMs: settings.breakerMaxDelayMs,
    now,
  });
  const versions = new LruCache<CacheEntry>(settings.versionCacheSize);
  const refs = new LruCache<CacheEntry>(settings.refCacheSize);
  const fallbackFor = createFallbacks(refs.maxSize);
  const inflight = new Map<string, Promise<CacheEntry>>();
  const abandoned = new WeakSet<Promise<CacheEntry>>();
  const snapshot = openSnapshot(options, baseUrl, report);
  const renderer = createRenderer();
  // Shared by every prompt of a plain `get`: the hot path allocates nothing it does not have to.
  const plainContext: PromptContext = { renderer, baseUrl, sessionId: undefined, userId: undefined };

  const cacheOf = (target: Target) => (target.exact ? versions : refs);
  const checkProject = projectCheck(options.project, snapshot, report);
  const live = settings.live
    ? createLive({
        http,
        onChange: (name, label) => {
          if (label === undefined) refreshAll(name);
          else refresh(targetOf(name, label));
        },
        onGap: () => {
          for (const name of refs.names()) refreshAll(name);
        },
        report,
      })
    : undefined;
  const remote = createRemote({
    http,
    breaker,
    ttlMs,
    coldBudgetMs,
    now,
    cacheOf,
    inflight,
    checkProject,
    report,
    ...(live ? { onHeld: () => live.start() } : {}),
  });
  const { fetchEntry, revalidate, probe } = remote;

  /**
   * A change was announced: ask the server now for a reference held, one request with its ETag. A request already
   * running may have been answered before the change, so its answer is not cached (as after `invalidate`). While
   * the breaker is open its probes decide when to ask.
   */
  function refresh(target: Target): void {
    const entry = refs.peek(target.name, target.ref);
    if (entry === undefined || breaker.isOpen) return;
    inflight.delete(target.key);
    revalidate(target, entry);
  }

  function refreshAll(name: string): void {
    for (const ref of refs.refsOf(name)) refresh(targetOf(name, ref));
  }

  function report(error: unknown): void {
    try {
      options.onError?.(error as RegistryError);
    } catch {
      // A failing error handler must not turn a background failure into an unhandled rejection.
    }
  }

  /**
   * The prompt of one call. For a label under a guarded rollout, the version of the arm the call's assignment key
   * falls in, chosen here from the rollout the registry sent with the label (both versions are in it): no request
   * per call, and the same arm resolve and render give for the key (rollout.ts).
   */
  function promptFor(version: PromptVersion, source: PromptSource, selector: GetOptions | undefined): Prompt {
    const rollout = version.rollout;
    if (rollout?.candidate === undefined) return createPrompt(version, source, contextFor(selector));
    // Without a key each call is drawn on its own: a fair split, but not a sticky one.
    const key = selector?.assignmentKey ?? selector?.userId ?? selector?.sessionId ?? Math.random().toString(36);
    const arm = rolloutArm(key, rollout);
    return createPrompt(arm === "candidate" ? rollout.candidate : version, source, {
      ...contextFor(selector),
      rollout: { id: rollout.id, arm, step: rollout.step },
    });
  }

  function contextFor(selector: GetOptions | undefined): PromptContext {
    if (selector?.sessionId === undefined && selector?.userId === undefined) return plainContext;
    return { renderer, baseUrl, sessionId: selector.sessionId, userId: selector.userId };
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
      if (entry) return promptFor(entry.version, "network", selector);
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
      return promptFor(previous.version, "stale", selector);
    }
    const saved = snapshot.index?.find(target.name, target.ref, target.exact);
    if (saved) return promptFor(saved, "snapshot", selector);
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

  async function get(name: string, selector?: GetOptions): Promise<Prompt> {
    const target = targetOf(name, refOf(selector));
    if (selector?.fallback !== undefined) checkFallback(selector.fallback);
    const entry = cacheOf(target).get(target.name, target.ref);
    if (entry !== undefined && !entry.invalidated) {
      const time = now();
      if (time < entry.expiresAt) return promptFor(entry.version, "cache", selector);
      if (breaker.isOpen) {
        probe(target, entry);
        return promptFor(entry.version, "stale", selector);
      }
      if (time < entry.refreshAfter) return promptFor(entry.version, "stale", selector);
      revalidate(target, entry);
      return promptFor(entry.version, "cache", selector);
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

  return {
    get,
    preload,
    invalidate,
    runExperiment: (o) => runExperiment({ http, renderer }, o),
    close: () => live?.close(),
  };
}
