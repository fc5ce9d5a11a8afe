// The client's in-process caches: bounded, least recently used first out, one instance per client.
import semver from "semver";
import { PRODUCTION_LABEL, type PromptVersion } from "./contract.js";

export interface CacheEntry {
  /** Deep-frozen: the same object is handed to every caller. */
  readonly version: PromptVersion;
  readonly etag: string | undefined;
  /** Fresh until then (epoch ms); Infinity for exact versions, which never change. */
  expiresAt: number;
  /**
   * No background refresh starts before then. Past `expiresAt` and before this, the value is served `stale`: its
   * refresh was refused (e.g. 401 for a revoked key), and asking again on every call would not change the answer.
   * (An unreachable registry is the breaker's business, not this.)
   */
  refreshAfter: number;
  /** `invalidate()` was called: the next `get` must ask the server, and this value is only its fallback. */
  invalidated: boolean;
}

interface Slot<V> {
  readonly name: string;
  readonly ref: string;
  value: V;
  /** The clock when the slot last moved to the young end. */
  stamp: number;
}

/**
 * Keyed by prompt name and reference, both exact. The hot path of `get` (the server's caches use `lru-cache`).
 */
export class LruCache<V> {
  // Two levels, so that a lookup hashes the caller's own strings: a joined key would be a new string to flatten and
  // hash on every call. `lru-cache` takes one key, so it would need that join: measured on Node 20, a lookup by
  // joined key is about ten times slower than this one (0.4 µs against 0.04 µs): 10 to 18% fewer warm `get` + `render`.
  private readonly byName = new Map<string, Map<string, Slot<V>>>();
  /** Slots from least to most recently used (Sets iterate in insertion order). */
  private readonly order = new Set<Slot<V>>();
  /** Counts moves to the young end. */
  private clock = 0;

  constructor(readonly maxSize: number) {
    if (!(Number.isSafeInteger(maxSize) && maxSize >= 1))
      throw new RangeError(`cache size must be an integer >= 1, got ${maxSize}`);
  }

  /** Marks the entry as recently used. */
  get(name: string, ref: string): V | undefined {
    const slot = this.byName.get(name)?.get(ref);
    if (slot === undefined) return undefined;
    // The most recently used slot already is at the young end: a hot loop on one prompt moves nothing.
    if (slot.stamp !== this.clock) {
      this.order.delete(slot);
      slot.stamp = ++this.clock;
      this.order.add(slot);
    }
    return slot.value;
  }

  /** Leaves the order alone. */
  peek(name: string, ref: string): V | undefined {
    return this.byName.get(name)?.get(ref)?.value;
  }

  set(name: string, ref: string, value: V): void {
    this.delete(name, ref);
    const slot: Slot<V> = { name, ref, value, stamp: ++this.clock };
    let refs = this.byName.get(name);
    if (refs === undefined) this.byName.set(name, (refs = new Map()));
    refs.set(ref, slot);
    this.order.add(slot);
    if (this.order.size > this.maxSize) {
      const oldest = this.order.values().next().value!;
      this.delete(oldest.name, oldest.ref);
    }
  }

  delete(name: string, ref: string): boolean {
    const refs = this.byName.get(name);
    const slot = refs?.get(ref);
    if (slot === undefined) return false;
    this.order.delete(slot);
    refs!.delete(ref);
    if (refs!.size === 0) this.byName.delete(name);
    return true;
  }

  /** The names with a cached reference. */
  names(): string[] {
    return [...this.byName.keys()];
  }

  /** The cached references of exactly this name. */
  refsOf(name: string): string[] {
    return [...(this.byName.get(name)?.keys() ?? [])];
  }
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

// ---- references and keys ----

/** Which version of a prompt to get: a label (default `production`), or a version that is exact or a semver range. */
export interface RefSelector {
  label?: string;
  version?: string;
}

/** A prompt reference for `preload` and `pullSnapshot`: an object, or the string `name` or `name:ref`. */
export type PromptRef = string | ({ name: string } & RefSelector);

export interface Target {
  name: string;
  /** As sent in `?ref=`; exact versions normalized (`v1.2.3` -> `1.2.3`). */
  ref: string;
  /** The ref is an exact version, which can be cached for good. */
  exact: boolean;
  /** Cache key: exact on both the name and the ref, never a prefix. */
  key: string;
}

export function refOf(selector: RefSelector | undefined): string {
  if (selector?.label !== undefined && selector.version !== undefined) {
    throw new TypeError(
      `give a label or a version, not both (label '${selector.label}', version '${selector.version}')`,
    );
  }
  return selector?.version ?? selector?.label ?? PRODUCTION_LABEL;
}

export function targetOf(name: string, ref: string): Target {
  // The server's rule: a ref that is a valid version is that version (labels may not look like versions). The regex
  // keeps labels off semver's parser, which throws (slowly) on them.
  const exact = /^\s*v?\d/.test(ref) ? semver.valid(ref) : null;
  const normalized = exact ?? ref;
  return { name, ref: normalized, exact: exact !== null, key: keyOf(name, normalized) };
}

// A NUL cannot occur in a name or a ref, so `foo` + `bar` never meets `foob` + `ar`.
export const keyOf = (name: string, ref: string) => `${name}\u0000${ref}`;

/**
 * `name` or `name:ref`. The first `:` splits, because names never contain one while refs may (`production@2026-11-01T12:00:00Z`
 * is the label at a moment); `@` would be ambiguous with that form.
 */
export function parsePromptRef(input: PromptRef): { name: string; ref: string } {
  if (typeof input !== "string") return { name: input.name, ref: refOf(input) };
  const colon = input.indexOf(":");
  if (colon < 0) return { name: input, ref: PRODUCTION_LABEL };
  const name = input.slice(0, colon);
  const ref = input.slice(colon + 1);
  if (!name || !ref) throw new TypeError(`invalid prompt reference '${input}': expected 'name' or 'name:ref'`);
  return { name, ref };
}

export const formatPromptRef = (name: string, ref: string) => `${name}:${ref}`;
