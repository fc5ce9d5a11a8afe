// In-process cache of resolved references, the hot path of every application. Entries are invalidated per
// prompt by an epoch bump when a publish or label move commits (locally, and via NOTIFY on other instances).
// The epoch is read before the database is, so a read racing a write can never be stored as fresh.
import type { PromptVersion } from "@promptreg/client/contract";

export interface CachedResolve {
  /** The JSON body as bytes: encoded once, written as is on every hit. */
  body: Buffer;
  version: PromptVersion;
  etag: string;
  epoch: number;
  expires: number;
}

// A safety net only: correctness comes from invalidation, this bounds the damage of a lost notification.
const MAX_AGE_MS = 60_000;

export class ResolveCache {
  private readonly entries = new Map<string, CachedResolve>();
  private readonly epochs = new Map<string, number>();
  private globalEpoch = 0;

  constructor(private readonly maxEntries: number) {}

  epochOf(promptKey: string): number {
    return this.globalEpoch + (this.epochs.get(promptKey) ?? 0);
  }

  get(promptKey: string, key: string): CachedResolve | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (hit.epoch !== this.epochOf(promptKey) || hit.expires < Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return hit;
  }

  set(key: string, value: Omit<CachedResolve, "expires">): void {
    if (this.maxEntries === 0) return;
    if (this.entries.size >= this.maxEntries) {
      // Maps iterate in insertion order: drop the oldest entry.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, { ...value, expires: Date.now() + MAX_AGE_MS });
  }

  invalidate(promptKey: string): void {
    this.epochs.set(promptKey, (this.epochs.get(promptKey) ?? 0) + 1);
  }

  clear(): void {
    this.globalEpoch += 1_000_000;
    this.entries.clear();
  }
}
