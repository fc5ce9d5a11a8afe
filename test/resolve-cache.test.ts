// The server's resolve cache on its own: which entries it keeps at its bound, and that an epoch bump is a miss.
import { describe, expect, it } from "vitest";
import type { PromptVersion } from "@promptreg/client/contract";
import { ResolveCache, type CachedResolve } from "../src/prompts/resolve-cache.js";

function entry(cache: ResolveCache, promptKey: string, text: string): CachedResolve {
  return {
    body: Buffer.from(text),
    version: { name: promptKey } as PromptVersion,
    etag: `"${text}"`,
    epoch: cache.epochOf(promptKey),
  };
}

describe("the resolve cache", () => {
  it("keeps a hot prompt at its bound and drops the least recently used one", () => {
    const cache = new ResolveCache(2);
    cache.set("p:hot\u0000production", entry(cache, "p:hot", "hot"));
    cache.set("p:cold\u0000production", entry(cache, "p:cold", "cold"));
    expect(cache.get("p:hot", "p:hot\u0000production")?.etag).toBe('"hot"');
    cache.set("p:new\u0000production", entry(cache, "p:new", "new"));
    // First in, but used since: it stays, and the cold one goes.
    expect(cache.get("p:hot", "p:hot\u0000production")?.etag).toBe('"hot"');
    expect(cache.get("p:cold", "p:cold\u0000production")).toBeUndefined();
    expect(cache.get("p:new", "p:new\u0000production")?.etag).toBe('"new"');
  });

  it("misses once the prompt's epoch moved, and after clear()", () => {
    const cache = new ResolveCache(10);
    const before = entry(cache, "p:a", "a");
    cache.invalidate("p:a");
    // Read before the invalidation, stored after it: never served.
    cache.set("p:a\u0000production", before);
    expect(cache.get("p:a", "p:a\u0000production")).toBeUndefined();
    cache.set("p:a\u0000production", entry(cache, "p:a", "a2"));
    cache.set("p:b\u0000production", entry(cache, "p:b", "b"));
    expect(cache.get("p:a", "p:a\u0000production")?.etag).toBe('"a2"');
    cache.clear();
    expect(cache.get("p:b", "p:b\u0000production")).toBeUndefined();
  });

  it("stores nothing with size 0", () => {
    const cache = new ResolveCache(0);
    cache.set("p:a\u0000production", entry(cache, "p:a", "a"));
    expect(cache.get("p:a", "p:a\u0000production")).toBeUndefined();
  });
});
