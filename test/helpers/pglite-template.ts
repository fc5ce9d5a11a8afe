// The run's migrated embedded database, made on demand: the first test file that opens a database creates and
// migrates one and dumps it to the file named by global-setup.ts; every other file, in any worker, loads that dump
// (a fraction of a second) instead of migrating its own (seconds). Files that never open a database never pay.
import { open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { openDatabase } from "../../src/db/client.js";

const loaded = new Map<string, Promise<Buffer>>();

/** The migrated database's dump at `file`, made first if no process has made it yet. */
export function migratedTemplate(file: string): Promise<Buffer> {
  let dump = loaded.get(file);
  if (!dump) loaded.set(file, (dump = loadOrMake(file)));
  return dump;
}

async function loadOrMake(file: string): Promise<Buffer> {
  const lockFile = `${file}.lock`;
  for (;;) {
    const dump = await readFile(file).catch(ifCode("ENOENT"));
    if (dump) return dump;
    // Creating the lock file is atomic: exactly one process makes the dump, the others wait for it.
    const lock = await open(lockFile, "wx").catch(ifCode("EEXIST"));
    if (lock) {
      try {
        await lock.writeFile(String(process.pid));
        await lock.close();
        // The maker before may have finished between the read above and taking the lock.
        const made = await readFile(file).catch(ifCode("ENOENT"));
        if (made) return made;
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, await makeDump());
        // Renamed into place whole, so a reader never loads half a dump.
        await rename(tmp, file);
      } finally {
        await rm(lockFile, { force: true });
      }
      continue;
    }
    // The maker is another worker process, with no channel to this one but the file system: look again shortly,
    // and take over if it died before finishing (a worker ended by a timeout).
    const maker = Number(await readFile(lockFile, "utf8").catch(() => ""));
    if (maker && !isAlive(maker)) await rm(lockFile, { force: true });
    else await sleep(50);
  }
}

async function makeDump(): Promise<Buffer> {
  const database = await openDatabase({ dataDir: "memory" });
  try {
    await database.migrate();
    return Buffer.from(await (await database.dumpDataDir!()).arrayBuffer());
  } finally {
    await database.close();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** For `.catch`: undefined when the error is `code`, otherwise rethrown. */
const ifCode =
  (code: string) =>
  (err: NodeJS.ErrnoException): undefined => {
    if (err.code !== code) throw err;
    return undefined;
  };
