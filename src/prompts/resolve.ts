// Resolving a reference (a label, a version, a range, a label at a moment) to a version, and the in-process cache
// of resolutions in front of it: the hot path of every application. The cache hears of every committed change to
// a prompt through the bus, locally and from other instances, and is bypassed while the bus may miss one.
import { createHash } from "node:crypto";
import semver from "semver";
import type { PromptVersion, RolloutArm } from "@promptreg/client/contract";
import { rolloutArm } from "@promptreg/client/rollout";
import type { Principal } from "../auth/principal.js";
import type { InvalidationBus } from "../db/invalidation.js";
import type { ReadDb } from "../db/writes.js";
import { notFound } from "../http/errors.js";
import { labelEventAt } from "../labels/labels.service.js";
import { activeRolloutOf } from "../rollouts/rollout-rows.js";
import { diffVersions } from "./diff.js";
import { findPrompt, findVersion } from "./lookup.js";
import { DEFAULT_REF, parseRef, type Ref } from "./refs.js";
import { ResolveCache } from "./resolve-cache.js";
import { versionView } from "./views.js";

export interface ResolvedBody {
  /** The JSON body, serialized and encoded once, served from memory afterwards. */
  body: Buffer;
  etag: string;
  version: PromptVersion;
  /**
   * For a label under a rollout: the answer to each arm's keys, made on first use and kept with this one, so that
   * a cached resolution serves keyed requests from memory too.
   */
  arms?: Partial<Record<RolloutArm, ResolvedBody>>;
}

function serialized(version: PromptVersion): ResolvedBody {
  // Ends with a newline like every JSON answer (see app.ts).
  const body = Buffer.from(`${JSON.stringify(version)}\n`);
  const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
  return { body, etag, version };
}

/**
 * The answer for assignment key `key`: a label under a rollout answers the key's arm's version, with the rollout
 * and the arm (the same arm the client picks from the unkeyed answer: one function, rollout.ts). Any other
 * resolution is the same for every key.
 */
export function resolvedForKey(resolved: ResolvedBody, key: string): ResolvedBody {
  const rollout = resolved.version.rollout;
  if (!rollout?.candidate) return resolved;
  const arm = rolloutArm(key, rollout);
  const arms = (resolved.arms ??= {});
  const known = arms[arm];
  if (known) return known;
  const { candidate, ...assignment } = rollout;
  const { rollout: _, ...baseline } = resolved.version;
  const made = serialized({ ...(arm === "candidate" ? candidate : baseline), rollout: { ...assignment, arm } });
  arms[arm] = made;
  return made;
}

export function createResolver({ db, bus, cacheSize }: { db: ReadDb; bus: InvalidationBus; cacheSize: number }) {
  const cache = new ResolveCache(cacheSize);
  // The resolve cache's own key of a prompt; the bus's text form of a topic is none of its business.
  const promptKey = (projectId: string, name: string) => `${projectId}:${name}`;
  bus.subscribe((topic) => {
    if (topic.kind === "all") cache.clear();
    else if (topic.kind === "prompt") cache.invalidate(promptKey(topic.projectId, topic.name));
  });

  const cacheKey = (pk: string, refText: string) => `${pk}\u0000${refText}`;
  // Concurrent misses of one reference share one read: after a change every client on the live-update stream asks at
  // once (bench/live.mjs), and each would otherwise wait its turn for a pooled connection. A read is joined only in
  // the epoch it started in, as the cache is read, so no one is given an answer older than a change announced to it.
  const reading = new Map<string, Promise<ResolvedBody>>();

  function cached(p: Principal, name: string, refText: string = DEFAULT_REF): ResolvedBody | undefined {
    if (!bus.healthy) return undefined;
    const pk = promptKey(p.projectId, name);
    return cache.get(pk, cacheKey(pk, refText));
  }

  async function resolveRef(p: Principal, name: string, ref: Ref): Promise<PromptVersion> {
    const prompt = await findPrompt(db, p.projectId, name);
    switch (ref.kind) {
      case "label": {
        const label = await db.label.findUnique({
          where: { promptId_name: { promptId: prompt.id, name: ref.label } },
          include: { version: true },
        });
        if (!label) throw notFound(`label '${ref.label}' of prompt '${name}'`);
        const rollout = await activeRolloutOf(db, prompt, ref.label, label.version.version);
        return { ...versionView(prompt, label.version, ref.label), ...(rollout ? { rollout } : {}) };
      }
      case "version":
        return versionView(prompt, await findVersion(db, prompt.id, name, ref.version));
      case "range": {
        const all = await db.promptVersion.findMany({ where: { promptId: prompt.id }, select: { version: true } });
        const best = semver.maxSatisfying(
          all.map((v) => v.version),
          ref.range,
        );
        if (!best) throw notFound(`a version of prompt '${name}' satisfying '${ref.range}'`);
        return versionView(prompt, await findVersion(db, prompt.id, name, best));
      }
      case "labelAt": {
        const event = await labelEventAt(db, prompt.id, ref.label, ref.at);
        const at = ref.at.toISOString();
        if (!event) throw notFound(`label '${ref.label}' of prompt '${name}' at ${at} (it did not exist yet)`);
        if (!event.toVersion) throw notFound(`label '${ref.label}' of prompt '${name}' at ${at} (it had been deleted)`);
        return versionView(prompt, await findVersion(db, prompt.id, name, event.toVersion), ref.label);
      }
    }
  }

  return {
    /**
     * A cached resolution, if there is one. Only valid names and references are ever stored, so callers may look up
     * unvalidated input here first and validate only on a miss (the hot path of every application).
     */
    cached,

    /** Resolves a reference, from memory when it can. */
    async resolve(p: Principal, name: string, refText: string = DEFAULT_REF): Promise<ResolvedBody> {
      const hit = cached(p, name, refText);
      if (hit) return hit;
      const pk = promptKey(p.projectId, name);
      const ref = parseRef(refText);
      // A label at a moment can still change while the moment is in the future: never cache those.
      const cacheable = ref.kind !== "labelAt" && bus.healthy;
      const epoch = cache.epochOf(pk);
      const key = cacheKey(pk, refText);
      const shared = `${key}\u0000${epoch}`;
      const running = cacheable ? reading.get(shared) : undefined;
      if (running) return running;
      const read = (async () => {
        const resolved = serialized(await resolveRef(p, name, ref));
        if (cacheable) cache.set(key, { ...resolved, epoch });
        return resolved;
      })();
      if (cacheable) {
        reading.set(shared, read);
        const done = () => void reading.delete(shared);
        read.then(done, done);
      }
      return read;
    },

    async diff(p: Principal, name: string, fromRef: string, toRef: string) {
      // Both refs are parsed before either lookup starts: a bad `to` must not leave the `from` lookup running with
      // nobody to catch its rejection (an unhandled rejection ends the process).
      const refs = [parseRef(fromRef), parseRef(toRef)] as const;
      const [from, to] = await Promise.all([resolveRef(p, name, refs[0]), resolveRef(p, name, refs[1])]);
      return diffVersions(from, to);
    },
  };
}
