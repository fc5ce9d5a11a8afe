// Reading a snapshot file, for Node: `@promptreg/client/snapshot-file`. Kept out of the root entry so that the core
// (get, render, cache) imports no Node built-in and also runs in browsers and edge runtimes.
import { readFileSync } from "node:fs";
import { invalidSnapshot, parseSnapshot, type Snapshot } from "./snapshot.js";

/**
 * Reads and validates a snapshot file written by `promptreg pull`, for the client's `snapshot` option. Synchronous, so
 * that a bad file is found when the application starts rather than during an outage.
 * @throws {RegistryError} code `invalid_snapshot`, naming the file: unreadable, not JSON, or not a snapshot
 * @example
 * import { readSnapshotFile } from "@promptreg/client/snapshot-file";
 * const registry = createClient({ baseUrl, apiKey, snapshot: readSnapshotFile("prompts.snapshot.json") });
 */
export function readSnapshotFile(path: string): Snapshot {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw invalidSnapshot(`cannot read snapshot file ${path}: ${(err as Error).message}`, err);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalidSnapshot(`snapshot file ${path} is not JSON: ${(err as Error).message}`, err);
  }
  return parseSnapshot(value, `snapshot file ${path}`);
}
