// Once per run, on the embedded database: a folder where the first test file that opens a database leaves the
// migrated database as a dump that every later file's in-memory database starts from (test/helpers/template.ts).
// Nothing is opened here: a run of pure-function files (`npx vitest run test/stats.test.ts`) never pays for a
// database, and this module imports nothing of the app, whose loading alone costs seconds.
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** Where the run's migrated embedded database goes, as a `dumpDataDir` tarball; absent on PostgreSQL. */
    pgliteTemplate?: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (process.env.TEST_DATABASE_URL) return undefined;
  const dir = path.resolve(import.meta.dirname, `../../node_modules/.cache/promptreg-tests/run-${process.pid}`);
  await mkdir(dir, { recursive: true });
  project.provide("pgliteTemplate", path.join(dir, "pglite-migrated.tar"));
  return () => rm(dir, { recursive: true, force: true });
}
