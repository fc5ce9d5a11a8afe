// In-process cache of resolved references, the hot path of every application. Entries are invalidated per
// prompt by an epoch bump when a publish or label move commits (locally, and via NOTIFY on other instances).
// The epoch is read before the database is, so a read racing a write can never be stored as fresh.
import { LRUCache } from "lru-cache";
import type { PromptVersion } from "@promptreg/client/contract";

export interface CachedResolve {
  /** The JSON body as bytes: encoded once, written as is on every hit. */
  body: Buffer;
  version: PromptVersion;
  etag: string;
  epoch: number;
}

// A safety net only: correctness comes from invalidation, this bounds the damage of a lost notification.
const MAX_AGE_MS = 60_000;

/** Bounded, least recently used out first: a hot prompt stays while cold ones come and go. */
export class ResolveCache {
  /** Undefined when the size is 0: caching is off. */
  private readonly entries: LRUCache<string, CachedResolve> | undefined;
  private readonly epochs = new Map<string, number>();
  private globalEpoch = 0;

  constructor(maxEntries: number) {
    this.entries = maxEntries > 0 ? new LRUCache({ max: maxEntries, ttl: MAX_AGE_MS }) : undefined;
  }

  epochOf(promptKey: string): number {
    return this.globalEpoch + (this.epochs.get(promptKey) ?? 0);
  }

  get(promptKey: string, key: string): CachedResolve | undefined {
    const hit = this.entries?.get(key);
    if (hit === undefined) return undefined;
    if (hit.epoch !== this.epochOf(promptKey)) {
      this.entries!.delete(key);
      return undefined;
    }
    return hit;
  }

  set(key: string, value: CachedResolve): void {
    this.entries?.set(key, value);
  }

  invalidate(promptKey: string): void {
    this.epochs.set(promptKey, (this.epochs.get(promptKey) ?? 0) + 1);
  }

  clear(): void {
    this.globalEpoch += 1_000_000;
    this.entries?.clear();
  }
}
