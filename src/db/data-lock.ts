// One owner per embedded data folder. PGlite is a single-process database: a second process opening the same
// folder would not share the first one's data but write over it. The owner keeps `<dataDir>/lock`, a small JSON
// record naming it (pid, port, start time, host); anyone else refuses to open the folder while that process lives.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { link, mkdir, readFile, unlink, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { z } from "zod";

export const LOCK_FILE = "lock";

export interface LockOwner {
  /** What holds the folder, as a person would run it: `promptreg serve`, `promptreg migrate`. */
  command: string;
  /** Where the owner serves its API, when it does. */
  url?: string;
}

const LockRecordSchema = z.object({
  pid: z.number().int().positive(),
  hostname: z.string(),
  /** The process's start in clock ticks since boot (Linux), so a reused pid is not mistaken for the owner. */
  processStart: z.string().optional(),
  startedAt: z.string(),
  command: z.string(),
  url: z.string().optional(),
  port: z.number().int().optional(),
  nonce: z.string().min(1),
});
export type LockRecord = z.infer<typeof LockRecordSchema>;

export class DataDirLockedError extends Error {
  constructor(
    readonly lockFile: string,
    readonly holder: LockRecord,
    message: string,
  ) {
    super(message);
  }
}

export interface DataDirLock {
  file: string;
  record: LockRecord;
  release(): Promise<void>;
}

// Nonces of the records this process wrote, added before the record is on disk: a record with our pid but another
// nonce is a leftover of an earlier process that had the same pid (a restarted container's pid 1).
const ownNonces = new Set<string>();
// A takeover may itself be interrupted (killed between its steps); each level of cleanup is one more guard file.
const MAX_TAKEOVER_DEPTH = 4;
const MAX_ATTEMPTS = 8;

/**
 * Takes the lock of `dataDir` (creating the folder), or throws DataDirLockedError naming the live owner.
 *
 * A lock file appears only whole and only if none exists (written aside, then hard-linked: `link` fails when the
 * name is taken). A stale record (its process is gone) is removed only by the one process that creates the guard
 * file named after that record's nonce, and only after re-reading that the lock still holds that nonce: so two
 * processes taking over the same stale lock cannot both remove it, and neither can remove a live lock written
 * meanwhile. Whoever then links first owns the folder; the others see a live owner and refuse.
 */
export async function lockDataDir(dataDir: string, owner: LockOwner): Promise<DataDirLock> {
  await mkdir(dataDir, { recursive: true });
  const file = path.join(dataDir, LOCK_FILE);
  const record = newRecord(owner);
  try {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (await createExclusive(file, record)) return heldLock(file, record);
      const holder = await readRecord(file);
      if (!holder) continue; // released between our attempt and the read
      if (holderState(holder) !== "dead") throw lockedError(dataDir, file, holder);
      await removeIfStill(file, holder.nonce, record, 0);
    }
    throw new Error(`could not take the lock ${file}: it changed hands ${MAX_ATTEMPTS} times while trying`);
  } catch (err) {
    ownNonces.delete(record.nonce);
    throw err;
  }
}

function heldLock(file: string, record: LockRecord): DataDirLock {
  let released = false;
  return {
    file,
    record,
    async release() {
      if (released) return;
      released = true;
      // Nobody else removes a live owner's record, so what we read here stays ours until we unlink it.
      const current = await readRecord(file).catch(() => undefined);
      if (current?.nonce === record.nonce) await unlink(file).catch(() => {});
      ownNonces.delete(record.nonce);
    },
  };
}

function newRecord(owner: LockOwner): LockRecord {
  const nonce = newNonce();
  const port = owner.url ? Number(new URL(owner.url).port) || undefined : undefined;
  return {
    pid: process.pid,
    hostname: hostname(),
    processStart: processStart(process.pid),
    startedAt: new Date().toISOString(),
    command: owner.command,
    ...(owner.url ? { url: owner.url, port } : {}),
    nonce,
  };
}

/** Writes `record` to `file` if no such file exists; false when one does. The file never exists half-written. */
async function createExclusive(file: string, record: LockRecord): Promise<boolean> {
  const temp = `${file}.${record.nonce}.tmp`;
  await writeFile(temp, `${JSON.stringify(record)}\n`, { flag: "wx", mode: 0o644 });
  try {
    await link(temp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    await unlink(temp).catch(() => {});
  }
}

/** The record in `file`; undefined when there is no file. */
async function readRecord(file: string): Promise<LockRecord | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = LockRecordSchema.safeParse(json);
  if (!parsed.success)
    throw new Error(
      `${file} is not a promptreg lock file; if no process uses ${path.dirname(file)}, delete it and start again`,
    );
  return parsed.data;
}

/**
 * Removes the lock `file` if it still holds the record `nonce`, which the caller judged stale, perhaps a while
 * ago: a lock taken over since then is left alone. Exported for the tests of that race.
 */
export async function removeStaleLock(file: string, nonce: string, owner: LockOwner): Promise<void> {
  const me = newRecord(owner);
  try {
    await removeIfStill(file, nonce, me, 0);
  } finally {
    ownNonces.delete(me.nonce);
  }
}

/**
 * Only the creator of `<file>.<nonce>.takeover` may remove the record `nonce`, so at most one process ever does.
 * A guard left by a taker that died is itself taken over the same way.
 */
async function removeIfStill(file: string, nonce: string, me: LockRecord, depth: number): Promise<void> {
  const dataDir = path.dirname(file);
  if (depth > MAX_TAKEOVER_DEPTH)
    throw new Error(
      `could not take over the stale lock ${file}: remove the ${LOCK_FILE}* files in ${dataDir} if no process uses it`,
    );
  const guard = `${file}.${nonce}.takeover`;
  const mine = { ...me, nonce: newNonce() };
  try {
    if (!(await createExclusive(guard, mine))) {
      const taker = await readRecord(guard);
      if (!taker) return; // that takeover just finished: look at the lock again
      // Another live process is taking this folder over right now and will own it.
      if (holderState(taker) !== "dead") throw lockedError(dataDir, file, taker);
      return await removeIfStill(guard, taker.nonce, me, depth + 1);
    }
    try {
      const current = await readRecord(file);
      if (current?.nonce === nonce) await unlink(file);
    } finally {
      await unlink(guard).catch(() => {});
    }
  } finally {
    ownNonces.delete(mine.nonce);
  }
}

function newNonce(): string {
  const nonce = randomBytes(8).toString("hex");
  ownNonces.add(nonce);
  return nonce;
}

type HolderState = "alive" | "dead" | "other-host";

function holderState(holder: LockRecord): HolderState {
  // A pid means nothing on another machine (or in another container sharing the volume): never guess there.
  if (holder.hostname !== hostname()) return "other-host";
  if (holder.pid === process.pid) return ownNonces.has(holder.nonce) ? "alive" : "dead";
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return "dead";
  }
  const stat = procStat(holder.pid);
  // A killed process stays a zombie until its parent reaps it, and signal 0 still reaches it; but it has exited and
  // holds no file: a restart right after `kill -9` must not wait for the reaper.
  if (stat?.state === "Z" || stat?.state === "X") return "dead";
  if (holder.processStart !== undefined && stat !== undefined && stat.start !== holder.processStart) return "dead"; // the pid was reused
  return "alive";
}

/** Start time in clock ticks since boot (field 22 of /proc/<pid>/stat). */
function processStart(pid: number): string | undefined {
  return procStat(pid)?.start;
}

/** Fields 3 (state) and 22 (start time) of /proc/<pid>/stat, or undefined where there is no /proc. */
function procStat(pid: number): { state: string | undefined; start: string | undefined } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may contain spaces or parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0], start: fields[19] };
  } catch {
    return undefined;
  }
}

function lockedError(dataDir: string, file: string, holder: LockRecord): DataDirLockedError {
  const otherHost = holderState(holder) === "other-host";
  const where = [
    `pid ${holder.pid}`,
    otherHost && `on host ${holder.hostname}`,
    holder.url && `serving ${holder.url}`,
    `started ${holder.startedAt}`,
  ]
    .filter(Boolean)
    .join(", ");
  const lines = [
    `the data folder ${dataDir} is in use by \`${holder.command}\` (${where}); an embedded database has one process at a time.`,
  ];
  if (otherHost)
    lines.push(
      `This host cannot check a process on ${holder.hostname}: if it is gone (an old container, say), delete ${file} and start again.`,
    );
  else if (holder.url)
    lines.push(
      `Stop that server first, or run admin commands through its API: npm run cli -- keys create ... --url ${holder.url} (with an admin key in PROMPTREG_API_KEY).`,
    );
  else lines.push("Let it finish, then try again.");
  return new DataDirLockedError(file, holder, lines.join("\n"));
}
