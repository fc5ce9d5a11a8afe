// Snapshots: prompts pulled from the registry ahead of time (at build or deploy), the last resort when the registry
// cannot be reached and nothing is cached yet. Reading one from a file is Node's business: ./snapshot-file.ts.
import { z } from "zod";
import { PromptVersionSchema, type PromptVersion } from "./contract.js";
import { deepFreeze, formatPromptRef, keyOf, parsePromptRef, targetOf, type PromptRef } from "./cache.js";
import { RegistryError, batchError } from "./errors.js";
import { HTTP_DEFAULTS, resolveRemote, trimBaseUrl, whoami, type HttpSettings } from "./http.js";

export const SNAPSHOT_FORMAT = "promptreg-snapshot/1";

const SnapshotSchema = z.object({
  format: z.literal(SNAPSHOT_FORMAT),
  createdAt: z.string(),
  /** The registry it was pulled from. */
  baseUrl: z.string(),
  /** The project of the key it was pulled with. Snapshots written before this field existed have none, and are read. */
  project: z.string().min(1).optional(),
  entries: z.array(z.object({ name: z.string().min(1), ref: z.string().min(1), version: PromptVersionSchema })),
});

/** The content of a snapshot file (`promptreg pull` writes them). */
export type Snapshot = z.infer<typeof SnapshotSchema>;
export type SnapshotEntry = Snapshot["entries"][number];

/** A snapshot ready for lookups. */
export interface SnapshotIndex {
  /** Where it came from, for messages: `snapshot file <path>` or `the snapshot option`. */
  source: string;
  baseUrl: string;
  project: string | undefined;
  find(name: string, ref: string, exact: boolean): PromptVersion | undefined;
}

/**
 * Validates a snapshot.
 * @throws {RegistryError} code `invalid_snapshot`, naming `source` and the first problems
 */
export function parseSnapshot(value: unknown, source: string): Snapshot {
  const parsed = SnapshotSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
  throw invalidSnapshot(`${source} is not a ${SNAPSHOT_FORMAT} snapshot: ${problems.join("; ")}`);
}

/**
 * Validates a snapshot and indexes it by reference and, since versions never change, by exact version too.
 * @throws {RegistryError} code `invalid_snapshot`, naming `source` and the first problems
 */
export function indexSnapshot(value: unknown, source: string): SnapshotIndex {
  const snapshot = parseSnapshot(value, source);
  const byRef = new Map<string, PromptVersion>();
  const byVersion = new Map<string, PromptVersion>();
  for (const entry of snapshot.entries) {
    const version = deepFreeze(entry.version);
    byRef.set(targetOf(entry.name, entry.ref).key, version);
    byVersion.set(keyOf(entry.name, version.version), version);
  }
  return {
    source,
    baseUrl: snapshot.baseUrl,
    project: snapshot.project,
    find: (name, ref, exact) => (exact ? byVersion : byRef).get(keyOf(name, ref)),
  };
}

export function invalidSnapshot(message: string, cause?: unknown): RegistryError {
  return new RegistryError({ status: 0, code: "invalid_snapshot", message, cause });
}

export interface PullSnapshotOptions {
  /** The registry's URL, e.g. `https://prompts.example.com`. */
  baseUrl: string;
  /** An API key (the `read` role is enough). */
  apiKey: string;
  /** What to pull: `{name, label?, version?}` objects, or `name` / `name:ref` strings (default ref `production`). */
  refs: PromptRef[];
  /** Default: the global `fetch`. */
  fetch?: typeof globalThis.fetch;
  /** Per HTTP attempt. Default: 10 000 ms (as `createClient`'s). */
  requestTimeoutMs?: number;
}

/**
 * Fetches each reference from the registry, for a snapshot file to bundle with an application. The snapshot records
 * the registry's URL and the key's project (asked of `GET /api/v1/whoami`), so that a client of another project
 * refuses it.
 * @throws {RegistryError} code `snapshot_failed` naming every reference that could not be fetched; the server's error
 * when it cannot say which project the key belongs to
 * @example
 * const snapshot = await pullSnapshot({ baseUrl, apiKey, refs: ["support/triage", "support/reply:staging"] });
 * await writeFile("prompts.snapshot.json", JSON.stringify(snapshot));
 */
export async function pullSnapshot(options: PullSnapshotOptions): Promise<Snapshot> {
  const baseUrl = trimBaseUrl(options.baseUrl);
  const http: HttpSettings = {
    ...HTTP_DEFAULTS,
    baseUrl,
    apiKey: options.apiKey,
    fetch: options.fetch ?? globalThis.fetch,
    requestTimeoutMs: options.requestTimeoutMs ?? HTTP_DEFAULTS.requestTimeoutMs,
    now: Date.now,
  };
  const wanted = options.refs.map(parsePromptRef);
  // First, so that a wrong key fails once, with the server's own answer, rather than once per reference.
  const { project } = await whoami(http);
  const results = await Promise.allSettled(
    wanted.map(async ({ name, ref }) => {
      const result = await resolveRemote(http, name, ref);
      // Without an If-None-Match header the server never answers 304.
      if (result.notModified) throw new Error("unexpected 304 Not Modified");
      return { name, ref, version: result.version };
    }),
  );
  const entries: SnapshotEntry[] = [];
  const failures: { ref: string; error: unknown }[] = [];
  results.forEach((result, i) => {
    if (result.status === "fulfilled") entries.push(result.value);
    else failures.push({ ref: formatPromptRef(wanted[i]!.name, wanted[i]!.ref), error: result.reason });
  });
  if (failures.length > 0) throw batchError("snapshot_failed", "pulling a snapshot", wanted.length, failures);
  return { format: SNAPSHOT_FORMAT, createdAt: new Date().toISOString(), baseUrl, project, entries };
}
