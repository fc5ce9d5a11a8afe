// The client's side of the network: one request per reference at a time, shared by concurrent callers and
// refreshes, each telling the breaker how it went; background refreshes of expired values and the breaker's probes.
import type { Breaker } from "./breaker.js";
import type { CacheEntry, LruCache, Target } from "./cache.js";
import { deepFreeze } from "./cache.js";
import { RegistryError, isDefinitive } from "./errors.js";
import { resolveRemote, type HttpSettings } from "./http.js";

export interface RemoteOptions {
  http: HttpSettings;
  breaker: Breaker;
  ttlMs: number;
  coldBudgetMs: number;
  now: () => number;
  /** The cache a target's entries live in (exact versions apart from labels and ranges). */
  cacheOf: (target: Target) => LruCache<CacheEntry>;
  /** The requests running, by target key; invalidate() drops a key so that its answer is not cached. */
  inflight: Map<string, Promise<CacheEntry>>;
  /** Called with the project of the key on the registry's first answer that names it. */
  checkProject: (project: string) => void;
  report: (error: unknown) => void;
  /** Told each time a label or range is cached: the client holds it now. */
  onHeld?: (target: Target) => void;
}

export interface Remote {
  fetchEntry(target: Target, previous: CacheEntry | undefined, probe?: boolean): Promise<CacheEntry>;
  revalidate(target: Target, entry: CacheEntry): void;
  probe(target: Target, entry: CacheEntry | undefined): void;
}

export function createRemote({
  http,
  breaker,
  ttlMs,
  coldBudgetMs,
  now,
  cacheOf,
  inflight,
  checkProject,
  report,
  onHeld,
}: RemoteOptions): Remote {
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
      if (!target.exact) onHeld?.(target);
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

  return { fetchEntry, revalidate, probe };
}
