// Inline fallbacks: the template a caller passes to `get` for when the registry is unreachable and nothing is cached,
// turned into a prompt version once per reference and content.
import { LRUCache } from "lru-cache";
import semver from "semver";
import { deepFreeze, type Target } from "./cache.js";
import type { PromptVersion } from "./contract.js";
import type { Fallback, GetOptions } from "./options.js";
import { analyzeTemplate } from "./render.js";

/** The version of an inline fallback that does not say which version it was copied from. */
export const FALLBACK_VERSION = "fallback";

interface BuiltFallback {
  /** The fallback as last given, to recognise it by identity. */
  given: Fallback;
  json: string;
  version: PromptVersion;
}

/** The versions built from inline fallbacks, at most `max` (one per reference). */
export function createFallbacks(max: number): (target: Target, selector: GetOptions) => PromptVersion {
  // Built once per reference and template, not at every call of an outage. Off the hot path: one joined key is fine.
  const fallbacks = new LRUCache<string, BuiltFallback>({ max });
  return fallbackFor;

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
}

/** Checked at every call, not only during an outage: a wrong version must show up when the code is written. */
export function checkFallback(fallback: Fallback): void {
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
