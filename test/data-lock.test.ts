// The embedded data folder's lock, in-process: who may take it, when a left-over lock is stale, and that takers
// racing for one stale lock cannot both win. (test/server.test.ts covers it with real `serve` processes.)
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataDirLockedError, LOCK_FILE, lockDataDir, removeStaleLock, type LockRecord } from "../src/db/data-lock.js";

let root: string;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "promptreg-lock-"));
});
afterAll(() => rm(root, { recursive: true, force: true }));

const folder = () => path.join(root, `d${++n}`);
const lockFile = (dir: string) => path.join(dir, LOCK_FILE);
const readLock = async (dir: string) => JSON.parse(await readFile(lockFile(dir), "utf8")) as LockRecord;

/** The pid of a process that has exited (and been reaped): certainly not alive. */
const deadPid = () => spawnSync(process.execPath, ["-e", ""]).pid!;

async function plant(dir: string, record: Partial<LockRecord>, file = lockFile(dir)) {
  await mkdir(dir, { recursive: true });
  const full: LockRecord = {
    pid: deadPid(),
    hostname: hostname(),
    startedAt: "2026-11-24T10:00:00.000Z",
    command: "promptreg serve",
    url: "http://127.0.0.1:4111",
    port: 4111,
    nonce: "0123456789abcdef",
    ...record,
  };
  await writeFile(file, JSON.stringify(full));
  return full;
}

describe("data folder lock", () => {
  it("records its owner (pid, port, start, host), refuses a second taker naming them, and is gone after release", async () => {
    const dir = folder();
    const lock = await lockDataDir(dir, { command: "promptreg serve", url: "http://127.0.0.1:4321" });
    expect(await readLock(dir)).toMatchObject({
      pid: process.pid,
      hostname: hostname(),
      command: "promptreg serve",
      url: "http://127.0.0.1:4321",
      port: 4321,
      startedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
    });
    const refused = await lockDataDir(dir, { command: "promptreg migrate" }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DataDirLockedError);
    const message = (refused as Error).message;
    expect(message).toContain(
      `the data folder ${dir} is in use by \`promptreg serve\` (pid ${process.pid}, serving http://127.0.0.1:4321`,
    );
    expect(message).toContain("--url http://127.0.0.1:4321");
    expect(message).toContain("PROMPTREG_API_KEY");
    await lock.release();
    expect(existsSync(lockFile(dir))).toBe(false);
    const again = await lockDataDir(dir, { command: "promptreg migrate" });
    await again.release();
    expect(await readdir(dir)).toEqual([]); // no temporary or guard files left behind
  });

  it("takes over the lock of a process that is gone", async () => {
    const dir = folder();
    const stale = await plant(dir, {});
    const lock = await lockDataDir(dir, { command: "promptreg serve", url: "http://127.0.0.1:4000" });
    expect(await readLock(dir)).toMatchObject({ pid: process.pid, url: "http://127.0.0.1:4000" });
    expect((await readLock(dir)).nonce).not.toBe(stale.nonce);
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it("takes over a lock whose pid is alive but is another process now (pid reused, or a restarted container's pid 1)", async () => {
    // Same pid as ours, written by an earlier process: a container's pid 1 after a restart.
    const own = folder();
    await plant(own, { pid: process.pid, nonce: "feedfacefeedface", processStart: undefined });
    await (await lockDataDir(own, { command: "promptreg serve" })).release();
    // A live pid whose start time is not the recorded one (Linux: /proc/<pid>/stat).
    if (existsSync(`/proc/${process.ppid}/stat`)) {
      const reused = folder();
      await plant(reused, { pid: process.ppid, processStart: "1" });
      await (await lockDataDir(reused, { command: "promptreg serve" })).release();
    }
  });

  it.runIf(existsSync("/proc/self/stat"))(
    "takes over the lock of a process killed but not reaped yet (a zombie)",
    async () => {
      // `sh` starts the owner in the background, then becomes a Node process that never reaps it: once killed, the
      // owner stays a zombie, which signal 0 still reaches. That parent says when it runs (so `sh`, which would reap
      // the killed child itself, is gone) and when its child changed state (SIGCHLD comes once the child is a zombie).
      const parentScript =
        'process.on("SIGCHLD", () => process.stdout.write("child\\n")); process.stdout.write("ready\\n"); setInterval(() => {}, 1e9);';
      const parent = spawn("sh", ["-c", 'sleep 600 & echo $!; exec "$0" -e "$1"', process.execPath, parentScript], {
        stdio: ["ignore", "pipe", "ignore"],
      });
      try {
        const lines = createInterface({ input: parent.stdout })[Symbol.asyncIterator]();
        const pid = Number((await lines.next()).value);
        const start = procStart(pid);
        expect((await lines.next()).value).toBe("ready");
        process.kill(pid, "SIGKILL");
        expect((await lines.next()).value).toBe("child");
        expect(procFields(pid)[0]).toBe("Z");
        const dir = folder();
        await plant(dir, { pid, processStart: start });
        const lock = await lockDataDir(dir, { command: "promptreg serve" });
        expect((await readLock(dir)).pid).toBe(process.pid);
        await lock.release();
      } finally {
        parent.kill("SIGKILL");
      }
    },
  );

  it("refuses a live owner, and never guesses about a process on another host", async () => {
    const live = folder();
    const start = existsSync(`/proc/${process.ppid}/stat`) ? procStart(process.ppid) : undefined;
    await plant(live, { pid: process.ppid, processStart: start });
    await expect(lockDataDir(live, { command: "promptreg serve" })).rejects.toThrow(
      `(pid ${process.ppid}, serving http://127.0.0.1:4111`,
    );
    const remote = folder();
    await plant(remote, { hostname: `not-${hostname()}`, pid: 1 });
    const err = (await lockDataDir(remote, { command: "promptreg serve" }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(DataDirLockedError);
    expect(err.message).toContain(`on host not-${hostname()}`);
    expect(err.message).toContain(`delete ${lockFile(remote)}`);
    expect(existsSync(lockFile(live)) && existsSync(lockFile(remote))).toBe(true);
  });

  it("lets exactly one of many concurrent takers win a stale lock", async () => {
    for (let round = 0; round < 5; round++) {
      const dir = folder();
      await plant(dir, {});
      const results = await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) => lockDataDir(dir, { command: `taker ${i}` })),
      );
      const won = results.filter((r) => r.status === "fulfilled");
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === "rejected") expect(r.reason).toBeInstanceOf(DataDirLockedError);
      const winner = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof lockDataDir>>>).value;
      expect((await readLock(dir)).nonce).toBe(winner.record.nonce);
      await winner.release();
      expect(await readdir(dir)).toEqual([]);
    }
  });

  it("a taker acting on an outdated look at the lock removes neither a lock taken over since nor one being taken over", async () => {
    const dir = folder();
    const stale = await plant(dir, {});
    // Two takers read the same stale record; the first takes the folder over, then the second one acts.
    const first = await lockDataDir(dir, { command: "promptreg serve", url: "http://127.0.0.1:4001" });
    await removeStaleLock(lockFile(dir), stale.nonce, { command: "promptreg serve" });
    expect((await readLock(dir)).nonce).toBe(first.record.nonce);
    await expect(lockDataDir(dir, { command: "promptreg migrate" })).rejects.toThrow("serving http://127.0.0.1:4001");
    await first.release();

    // A live process holds the takeover guard of a stale record: nobody else removes that record meanwhile.
    const other = folder();
    const left = await plant(other, {});
    const taker = await plant(
      other,
      { pid: process.ppid, url: "http://127.0.0.1:4002", nonce: "aaaaaaaaaaaaaaaa" },
      `${lockFile(other)}.${left.nonce}.takeover`,
    );
    await expect(removeStaleLock(lockFile(other), left.nonce, { command: "promptreg serve" })).rejects.toThrow(
      `pid ${taker.pid}`,
    );
    expect((await readLock(other)).nonce).toBe(left.nonce);
  });

  it("recovers when a taker died in the middle of a takeover (its guard file left behind)", async () => {
    const dir = folder();
    const stale = await plant(dir, {});
    await plant(dir, { nonce: "deaddeaddeaddead" }, `${lockFile(dir)}.${stale.nonce}.takeover`);
    const lock = await lockDataDir(dir, { command: "promptreg serve" });
    expect((await readLock(dir)).pid).toBe(process.pid);
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it("says what to do with a lock file it cannot read", async () => {
    const dir = folder();
    await plant(dir, {});
    await writeFile(lockFile(dir), "not json");
    await expect(lockDataDir(dir, { command: "promptreg serve" })).rejects.toThrow(
      `${lockFile(dir)} is not a promptreg lock file; if no process uses ${dir}, delete it and start again`,
    );
  });
});

/** The fields of /proc/<pid>/stat from the third (state) on. */
function procFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

function procStart(pid: number): string {
  return procFields(pid)[19]!;
}
