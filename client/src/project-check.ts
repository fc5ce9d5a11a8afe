// Which project the client serves: the `project` option, the snapshot's, and the one the registry says the key
// belongs to must agree. A snapshot of another project than the option is refused when the client is created; one
// of another project than the key's is dropped on the registry's first answer, not served later.
import { RegistryError } from "./errors.js";
import { trimBaseUrl } from "./http.js";
import { indexSnapshot, type Snapshot, type SnapshotIndex } from "./snapshot.js";

/** The snapshot the client may serve; `index` becomes undefined when it turns out to be another project's. */
export interface SnapshotSlot {
  index: SnapshotIndex | undefined;
}

/**
 * Indexes the `snapshot` option and checks it against the `project` option and `baseUrl`.
 * @throws {TypeError} for a snapshot given as a path
 * @throws {RegistryError} code `invalid_snapshot`, or `snapshot_project_mismatch` for another project's snapshot
 */
export function openSnapshot(
  options: { snapshot?: Snapshot; project?: string },
  baseUrl: string,
  report: (error: RegistryError) => void,
): SnapshotSlot {
  if (typeof options.snapshot === "string") {
    throw new TypeError(
      "snapshot takes a snapshot object; to use a file written by `promptreg pull`, pass readSnapshotFile(path) from '@promptreg/client/snapshot-file'",
    );
  }
  const snapshot = options.snapshot === undefined ? undefined : indexSnapshot(options.snapshot, "the snapshot option");
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
  return { index: snapshot };
}

/**
 * The check to run on the first answer that names the key's project, a refusal such as a 404 included: it reports a
 * key of another project than the option, and drops a snapshot of another project than the key's.
 */
export function projectCheck(
  expected: string | undefined,
  slot: SnapshotSlot,
  report: (error: RegistryError) => void,
): (project: string) => void {
  /** The project the registry said the key belongs to has been compared with what the client was told. */
  let projectChecked = false;
  return (project) => {
    if (projectChecked) return;
    projectChecked = true;
    if (expected !== undefined && project !== expected) {
      report(
        new RegistryError({
          status: 0,
          code: "project_mismatch",
          message: `the API key belongs to project '${project}', but this client was created for project '${expected}'`,
        }),
      );
    }
    const snapshot = slot.index;
    if (snapshot?.project !== undefined && snapshot.project !== project) {
      report(
        new RegistryError({
          status: 0,
          code: "snapshot_project_mismatch",
          message: `${snapshot.source} was pulled from project '${snapshot.project}', but the API key belongs to project '${project}': the snapshot will not be used`,
        }),
      );
      slot.index = undefined;
    }
  };
}

function normalizeUrl(url: string): string {
  return URL.canParse(url) ? trimBaseUrl(new URL(url).href) : url;
}
