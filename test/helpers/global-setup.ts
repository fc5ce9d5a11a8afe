// Once per run, on the embedded database: one migrated database, dumped to a file that every test file's in-memory
// database starts from. Creating and migrating a database takes seconds; loading the dump, a fraction of one.
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { openDatabase } from "../../src/db/client.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The migrated embedded database, as a `dumpDataDir` tarball; absent on PostgreSQL. */
    pgliteTemplate?: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (process.env.TEST_DATABASE_URL) return undefined;
  const database = await openDatabase({ dataDir: "memory" });
  let dump: Blob;
  try {
    await database.migrate();
    dump = await database.dumpDataDir!();
  } finally {
    await database.close();
  }
  const dir = path.resolve(import.meta.dirname, "../../node_modules/.cache/promptreg-tests");
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `pglite-migrated-${process.pid}.tar`);
  await writeFile(file, Buffer.from(await dump.arrayBuffer()));
  project.provide("pgliteTemplate", file);
  return () => rm(file, { force: true });
}
