// The one runner of background work (evaluations, experiments, rollouts and webhooks hang off it): jobs are rows of
// `jobs` in the service's own database, so work survives a SIGKILL and several instances on one PostgreSQL share it
// with no broker. Written here because the job queues of the field (pg-boss, graphile-worker) open their own `pg`
// connections to a server and cannot run on the embedded database.
//
// The guarantees, and how:
// - Nothing is lost: a job is claimed with a lease (`locked_until`) that its worker extends while it runs; a worker
//   that dies stops extending it, and once it lapses any instance claims the job again.
// - Nothing is done twice: a job's row is deleted in the transaction that writes its result, and only while the
//   deleting worker still holds it; a worker that lost its lease writes nothing. What a job did outside the database
//   before a crash (a call to a model) may be repeated once by the next claim: the result is still written once.
// - Instances never take the same job: the claim is `FOR UPDATE SKIP LOCKED`.
// - A failing job is retried with backoff and jitter (or after the server's Retry-After), and after its last attempt
//   its queue's `giveUp` writes the final outcome (e.g. an `error` result), also exactly once.
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { z } from "zod";
import { Prisma } from "../generated/prisma/client.js";
import type { Database, Tx } from "../db/client.js";
import { backoffMs, NotSentError, OutboundError } from "../outbound/outbound.js";

/**
 * What a job writes when it is done, with the removal of its row: both or neither. Either a function, run in the
 * transaction that removes the row, or, cheaper (one statement, no transaction), the common table expressions of
 * one statement whose first, `held`, deletes the row: each of them must write only if `held` has a row.
 */
export type Completion = TxCompletion | { ctes: (held: Prisma.Sql) => Prisma.Sql[] };
export type TxCompletion = (tx: Tx) => Promise<void>;

export interface JobContext {
  /** 1 on the first claim. */
  attempt: number;
  /** Aborted when the runner stops or the job's lease is lost: stop, the job will run again elsewhere. */
  signal: AbortSignal;
}

export interface Queue<P> {
  name: string;
  payload: z.ZodType<P>;
  /** Claims before giving up, counting claims lost to a crash. */
  maxAttempts: number;
  /** Jobs of this queue one instance runs at once. */
  concurrency: number;
  /**
   * Work that yields to the instance's foreground (`JobRunnerOptions.foreground`): while the foreground takes a
   * share of the time, one job of the queue at a time, each followed by a pause that keeps the queue to the rest of
   * the time (at least `backgroundShare`). For work that costs the database and the event loop what the foreground
   * needs (checking stored spans in bulk), not for work that mostly waits on another server.
   */
  background?: boolean;
  /** Does the work. Throw to retry later (an OutboundError that is not retryable gives up at once). */
  run(payload: P, context: JobContext): Promise<Completion>;
  /** The final outcome after the last attempt failed, or at once for a failure that retrying cannot fix. */
  giveUp(payload: P, reason: string): Completion;
}

/** What became of a claimed job, told after it is committed (metrics, logs, tests waiting on work). */
export interface JobEvent {
  queue: string;
  key: string;
  attempt: number;
  /**
   * done: its result is written; gave_up: its final failure is written; retrying: handed back for later; released:
   * handed back uncounted (the runner stopped, a limit said not yet, or the payload is another version's); lost: another worker holds it.
   */
  outcome: "done" | "gave_up" | "retrying" | "released" | "lost";
}

export interface JobRunnerOptions {
  db: Database;
  onSettled?: (event: JobEvent) => void;
  logger: Logger;
  queues: Queue<never>[];
  /** How long a claim holds without being extended; extended every third of it while the job runs. */
  leaseMs?: number;
  /** How often an idle queue looks for due work (enqueueing in this process wakes it at once). */
  pollMs?: number;
  /** First and longest pause between attempts. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /**
   * The share of recent time, in [0, 1], that the work this instance serves first (ingest) was under way: a
   * background queue takes what it leaves, so that evaluating what was stored never takes the throughput of storing
   * it. Default: 0 (no foreground).
   */
  foreground?: () => number;
  /** The share of the time a background queue keeps however busy the foreground is; default 0.02. */
  backgroundShare?: number;
  /**
   * This runner is the only one the database has (the embedded database belongs to one process): claims found when
   * it starts were a dead process's, and are handed back at once rather than when their lease lapses.
   */
  soleWorker?: boolean;
}

export interface EnqueueOptions {
  projectId?: string;
  /** Not before this many milliseconds from now. */
  delayMs?: number;
}

export interface JobRunner {
  /**
   * Adds a job unless one with the key is pending; inside `tx` it commits (or not) with the caller's write. Returns
   * whether it was added. Call `wake()` after the commit so this instance starts it at once.
   */
  enqueue<P>(queue: Queue<P>, key: string, payload: P, options?: EnqueueOptions, tx?: Tx): Promise<boolean>;
  /** As `enqueue`, for many jobs of one queue in one statement; returns how many were added. */
  enqueueMany<P>(
    queue: Queue<P>,
    jobs: { key: string; payload: P }[],
    options?: EnqueueOptions,
    tx?: Tx,
  ): Promise<number>;
  /**
   * Removes the pending jobs of `queue` whose payload has `field` equal to `value` (a cancelled backfill's), in
   * `tx` if given; returns how many. A job already running is left to finish.
   */
  cancel(queue: Queue<never>, field: string, value: string, tx?: Tx): Promise<number>;
  /** Pending jobs of `queue` whose payload contains `match`, running ones included. */
  pending(queue: Queue<never>, match: Record<string, string | number>): Promise<number>;
  /** Pending jobs of `queue` of one project, counted by the values of `fields` in their payload (as text). */
  pendingBy(queue: Queue<never>, projectId: string, fields: string[]): Promise<{ values: string[]; n: number }[]>;
  /** Looks for due work of `queues` (default all) now rather than at the next poll. */
  wake(...queues: Pick<Queue<never>, "name">[]): void;
  start(): void;
  /** Stops claiming, aborts running jobs and hands their claims back, so another instance takes them at once. */
  stop(): Promise<void>;
}

interface Claimed {
  id: string;
  key: string;
  projectId: string | null;
  payload: unknown;
  attempts: number;
}

/**
 * An INSERT of jobs from `select`, which yields columns `key`, `project_id` and `payload`, for a data-modifying CTE
 * of another module's statement (ingest queues its spans' evaluation in the statement that stores them). Existing
 * keys are skipped; it returns a row per job added.
 */
export function insertJobsSql(queue: Queue<never>, select: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`
  INSERT INTO jobs (queue, key, project_id, payload)
  SELECT ${queue.name}, q.key, q.project_id, q.payload FROM (${select}) q
  ON CONFLICT (queue, key) DO NOTHING
  RETURNING 1`;
}

/** The payloads of `queue`'s pending jobs (running ones included) that contain `match`, as a subquery `payload`. */
export function pendingPayloadsSql(queue: Pick<Queue<never>, "name">, match: Record<string, string>): Prisma.Sql {
  return Prisma.sql`SELECT payload FROM jobs WHERE queue = ${queue.name} AND payload @> ${JSON.stringify(match)}::jsonb`;
}

export function createJobRunner(options: JobRunnerOptions): JobRunner {
  const { db, logger } = options;
  const leaseMs = options.leaseMs ?? 30_000;
  const pollMs = options.pollMs ?? 1_000;
  const retry = { baseMs: options.retryBaseMs ?? 1_000, maxMs: options.retryMaxMs ?? 5 * 60_000 };
  const foreground = options.foreground ?? (() => 0);
  const minShare = options.backgroundShare ?? 0.02;
  // The share a background queue may take now; near 1 it runs unthrottled.
  const backgroundShare = () => Math.max(minShare, 1 - foreground());
  const UNTHROTTLED = 0.9;
  const worker = randomUUID();
  const stopping = new AbortController();
  const running = new Set<Promise<void>>();
  const loops: { queue: string; wake(): void; enqueued(): void; done: Promise<void> }[] = [];
  let started = false;

  const interval = (ms: number) => Prisma.sql`(${Math.round(ms)} * interval '1 millisecond')`;

  // The jobs this runner is running: never claimed again by it, even when a late heartbeat let their lease lapse
  // (another instance may take them then; this one would only run them twice in parallel with itself).
  const mine = new Set<string>();

  async function claim(
    queue: Queue<never>,
    limit: number,
    busyProjects: string[] = [],
    recentProjects: string[] = [],
  ): Promise<Claimed[]> {
    const due = Prisma.sql`
      queue = ${queue.name} AND run_at <= now() AND (locked_until IS NULL OR locked_until < now())
        AND NOT (id = ANY(${[...mine]}::bigint[]))`;
    // Projects served least recently first (never served: before all), so that one project's backlog takes turns
    // with the others' work rather than going before it; plain arrival order when there is no such history.
    const order = recentProjects.length
      ? Prisma.sql`array_position(${recentProjects}::uuid[], project_id) NULLS FIRST, run_at, id`
      : Prisma.sql`run_at, id`;
    const set = Prisma.sql`locked_by = ${worker}, locked_until = now() + ${interval(leaseMs)}, attempts = attempts + 1`;
    const returning = Prisma.sql`RETURNING id::text AS id, key, project_id::text AS "projectId", payload, attempts`;
    if (busyProjects.length === 0) {
      const { rows } = await db.query<Claimed>(Prisma.sql`
        UPDATE jobs SET ${set}
        WHERE id IN (SELECT id FROM jobs WHERE ${due} ORDER BY ${order} LIMIT ${limit} FOR UPDATE SKIP LOCKED)
        ${returning}`);
      return rows;
    }
    // Busy projects' work after everyone else's, in one statement: theirs fills only the slots the others' due work
    // leaves (a limit of 0 reads nothing).
    const busy = Prisma.sql`project_id = ANY(${busyProjects}::uuid[])`;
    const { rows } = await db.query<Claimed>(Prisma.sql`
      WITH others AS (
        SELECT id FROM jobs WHERE ${due} AND (project_id IS NULL OR NOT ${busy})
        ORDER BY run_at, id LIMIT ${limit} FOR UPDATE SKIP LOCKED),
      theirs AS (
        SELECT id FROM jobs WHERE ${due} AND ${busy}
        ORDER BY run_at, id LIMIT ${limit} - (SELECT count(*) FROM others) FOR UPDATE SKIP LOCKED)
      UPDATE jobs SET ${set} WHERE id IN (SELECT id FROM others UNION ALL SELECT id FROM theirs)
      ${returning}`);
    return rows;
  }

  /**
   * Claims up to `limit` jobs, fairly across projects: a project running half the queue's slots here or more gets
   * more only when no other project's work is due, so one project's backlog (or its slow model server) leaves the
   * others room. A queue of one slot takes projects in turn.
   *
   * Finding that no other project's work is due reads past the busy projects' backlog, so once found it is believed
   * until new work is enqueued here (`wake`) or for `pollMs` (work another instance enqueued): a claim per finished
   * job would otherwise read the whole backlog each time.
   */
  async function claimFairly(
    queue: Queue<never>,
    limit: number,
    fairness: { runningBy: Map<string, number>; recentProjects: string[]; othersIdleAt?: number },
  ): Promise<Claimed[]> {
    // A queue run one job at a time has no slots to share: its projects take turns instead.
    if (queue.concurrency === 1) return claim(queue, limit, [], fairness.recentProjects);
    const busy = [...fairness.runningBy]
      .filter(([project, n]) => project !== "" && n >= shareOf(queue))
      .map(([project]) => project);
    const idleAt = fairness.othersIdleAt;
    if (busy.length === 0 || (idleAt !== undefined && performance.now() - idleAt < pollMs)) return claim(queue, limit);
    const claimed = await claim(queue, limit, busy);
    const othersFound = claimed.some((job) => job.projectId === null || !busy.includes(job.projectId));
    fairness.othersIdleAt = othersFound ? undefined : performance.now();
    return claimed;
  }

  /** Deletes the job and writes its outcome, both or neither; false when this worker no longer holds it. */
  async function finish(job: Claimed, completion: Completion): Promise<boolean> {
    if (typeof completion !== "function") {
      const { rows } = await db.query<{ held: number }>(Prisma.sql`
        WITH held AS (DELETE FROM jobs WHERE id = ${BigInt(job.id)} AND locked_by = ${worker} RETURNING id),
        ${Prisma.join(completion.ctes(Prisma.sql`held`), ",\n")}
        SELECT count(*)::int AS held FROM held`);
      return rows[0]!.held > 0;
    }
    return db.prisma.$transaction(async (tx) => {
      const held = await tx.$executeRaw`DELETE FROM jobs WHERE id = ${BigInt(job.id)} AND locked_by = ${worker}`;
      if (held === 0) return false;
      await completion(tx);
      return true;
    });
  }

  async function release(job: Claimed, delayMs: number, reason: string, countAttempt: boolean): Promise<void> {
    await db.query(Prisma.sql`
      UPDATE jobs SET locked_by = NULL, locked_until = NULL, run_at = now() + ${interval(delayMs)},
        last_error = ${reason.slice(0, 2000)}, attempts = attempts - ${countAttempt ? 0 : 1}
      WHERE id = ${BigInt(job.id)} AND locked_by = ${worker}`);
  }

  async function runOne(queue: Queue<never>, job: Claimed): Promise<void> {
    const outcome = await settle(queue, job);
    options.onSettled?.({ queue: queue.name, key: job.key, attempt: job.attempts, outcome });
  }

  async function settle(queue: Queue<never>, job: Claimed): Promise<JobEvent["outcome"]> {
    const log = logger.child({ queue: queue.name, job: job.id, attempt: job.attempts });
    const payload = queue.payload.safeParse(job.payload);
    if (!payload.success) {
      // Written by an older or newer version of the service: not this one's to run.
      log.error({ issues: payload.error.issues }, "job payload not understood; leaving it for another version");
      await release(job, retry.maxMs, "payload not understood by this version", false);
      return "released";
    }
    const give = async (reason: string) =>
      (await finish(job, queue.giveUp(payload.data as never, reason))) ? "gave_up" : "lost";
    if (job.attempts > queue.maxAttempts)
      return give(`gave up after ${queue.maxAttempts} attempts (the last ones did not finish)`);
    const lost = new AbortController();
    const signal = AbortSignal.any([stopping.signal, lost.signal]);
    // Extends the lease while the job runs; a failed extension means another worker may take it: stop.
    const heartbeat = setInterval(() => {
      db.query(Prisma.sql`
        UPDATE jobs SET locked_until = now() + ${interval(leaseMs)} WHERE id = ${BigInt(job.id)} AND locked_by = ${worker}`)
        .then((r) => r.rowCount === 0 && lost.abort())
        .catch(() => lost.abort());
    }, leaseMs / 3);
    try {
      const completion = await queue.run(payload.data as never, { attempt: job.attempts, signal });
      if (await finish(job, completion)) return "done";
      log.warn("job's claim was lost before it finished; its result was not written");
      return "lost";
    } catch (err) {
      if (stopping.signal.aborted) {
        await release(job, 0, "the instance stopped", false).catch(() => {});
        return "released";
      }
      const reason = err instanceof Error ? err.message : String(err);
      // Nothing was sent (a connection's limits said not yet): handed back uncounted, to run when they allow.
      if (err instanceof NotSentError) {
        await release(job, err.retryAfterMs ?? retry.baseMs, reason, false);
        return "released";
      }
      if ((err instanceof OutboundError && !err.retryable) || job.attempts >= queue.maxAttempts) {
        log.warn({ reason }, "job gave up");
        return give(reason);
      }
      const retryAfter = err instanceof OutboundError ? err.retryAfterMs : undefined;
      const delay = backoffMs(job.attempts, { ...retry, retryAfter });
      log.info({ reason, delayMs: delay }, "job will be retried");
      await release(job, delay, reason, true);
      return "retrying";
    } finally {
      clearInterval(heartbeat);
    }
  }

  function loop(queue: Queue<never>, ready: Promise<void>) {
    let nudge: (() => void) | undefined;
    // A wake while the loop is claiming, not waiting, must not be lost: the next wait returns at once.
    let woken = false;
    const active = new Set<Promise<void>>();
    // Jobs of each project this loop runs now, and the projects it last served (most recent last), for fair claims.
    const runningBy = new Map<string, number>();
    const recentProjects: string[] = [];
    const fairness: Parameters<typeof claimFairly>[2] = { runningBy, recentProjects };
    const wake = () => {
      woken = true;
      nudge?.();
    };
    // New work here: another project's may be due now.
    const enqueued = () => {
      fairness.othersIdleAt = undefined;
      wake();
    };
    // A background queue's next claim while the foreground is busy: after its last job's pause.
    let resumeAt = 0;
    const wait = () => {
      if (woken) {
        woken = false;
        return Promise.resolve();
      }
      let timer: NodeJS.Timeout | undefined;
      return new Promise<void>((resolve) => {
        nudge = resolve;
        timer = setTimeout(resolve, pollMs);
      }).finally(() => {
        clearTimeout(timer);
        nudge = undefined;
        woken = false;
      });
    };
    // Jobs claimed beyond the free slots, to start as slots free without a claim each: a quarter of the slots, so a
    // queue of short jobs (an experiment's model calls) claims once per few jobs rather than at every finished one.
    // None for a background queue (it claims one job at a time while throttled) or a small one.
    const ahead = queue.background ? 0 : Math.floor(queue.concurrency / 4);
    const held: { job: Claimed; at: number }[] = [];
    // Undoes a claim's bookkeeping (its project's count, `mine`).
    const forget = (job: Claimed) => {
      mine.delete(job.id);
      const project = job.projectId ?? "";
      const left = (runningBy.get(project) ?? 1) - 1;
      if (left > 0) runningBy.set(project, left);
      else runningBy.delete(project);
    };
    const start = (job: Claimed) => {
      const began = performance.now();
      const p = runOne(queue, job)
        .catch((err) => logger.error({ err, queue: queue.name, job: job.id }, "job failed unexpectedly"))
        .finally(() => {
          const ended = performance.now();
          const share = backgroundShare();
          resumeAt = share >= UNTHROTTLED ? 0 : ended + ((ended - began) * (1 - share)) / share;
          forget(job);
          active.delete(p);
          running.delete(p);
          wake();
        });
      active.add(p);
      running.add(p);
    };
    const done = (async () => {
      await ready;
      while (!stopping.signal.aborted) {
        let free = queue.concurrency - active.size;
        if (queue.background && backgroundShare() < UNTHROTTLED) {
          const pause = resumeAt - performance.now();
          if (active.size > 0) free = 0;
          else if (pause > 0) {
            // Only the pause (or stopping) ends it: a wake for new work must not, or it would not hold while ingest
            // queues work with every chunk it stores.
            await sleep(Math.min(pause, pollMs), stopping.signal);
            continue;
          } else free = 1;
        }
        // Claimed ahead and held so long that its lease could lapse before it starts (the slots are taken by long
        // jobs): handed back, uncounted, for whichever worker frees first.
        while (held.length > 0 && performance.now() - held[0]!.at >= leaseMs / 3) {
          const { job } = held.shift()!;
          forget(job);
          await release(job, 0, "claimed ahead and not started in time", false).catch(() => {});
        }
        // Not while its project holds half the slots and another project's work may be due: the claim below decides.
        for (; free > 0 && held.length > 0; free--) {
          const project = held[0]!.job.projectId;
          const busy = project !== null && (runningBy.get(project) ?? 0) >= shareOf(queue);
          const othersIdle = fairness.othersIdleAt !== undefined && performance.now() - fairness.othersIdleAt < pollMs;
          if (busy && !othersIdle && queue.concurrency > 1) break;
          start(held.shift()!.job);
        }
        const claimed =
          free <= 0
            ? []
            : await claimFairly(queue, free + Math.max(0, ahead - held.length), fairness).catch((err) => {
                logger.warn({ err, queue: queue.name }, "could not claim jobs; trying again");
                return [];
              });
        for (const job of claimed) {
          mine.add(job.id);
          const project = job.projectId ?? "";
          runningBy.set(project, (runningBy.get(project) ?? 0) + 1);
          if (job.projectId) {
            const at = recentProjects.indexOf(job.projectId);
            if (at >= 0) recentProjects.splice(at, 1);
            recentProjects.push(job.projectId);
            if (recentProjects.length > MAX_RECENT_PROJECTS) recentProjects.shift();
          }
          if (free > 0) {
            start(job);
            free--;
          } else held.push({ job, at: performance.now() });
        }
        // Until a slot frees, new work is enqueued here, or the poll: other instances' work shows up then.
        await wait();
      }
      // Stopping: what was claimed ahead goes back at once, uncounted, for another instance.
      await Promise.all(
        held.splice(0).map(({ job }) => {
          forget(job);
          return release(job, 0, "the instance stopped", false).catch(() => {});
        }),
      );
    })();
    return { queue: queue.name, wake, enqueued, done };
  }

  return {
    async enqueue(queue, key, payload, enqueueOptions = {}, tx) {
      const value = JSON.stringify(queue.payload.parse(payload));
      const statement = Prisma.sql`
        INSERT INTO jobs (queue, key, project_id, payload, run_at)
        VALUES (${queue.name}, ${key}, ${enqueueOptions.projectId ?? null}::uuid, ${value}::jsonb,
          now() + ${interval(enqueueOptions.delayMs ?? 0)})
        ON CONFLICT (queue, key) DO NOTHING`;
      const added = tx ? await tx.$executeRaw(statement) : (await db.query(statement)).rowCount;
      return added > 0;
    },
    async enqueueMany(queue, jobs, enqueueOptions = {}, tx) {
      if (jobs.length === 0) return 0;
      const rows = JSON.stringify(jobs.map((j) => ({ key: j.key, payload: queue.payload.parse(j.payload) })));
      const statement = Prisma.sql`
        INSERT INTO jobs (queue, key, project_id, payload, run_at)
        SELECT ${queue.name}, j.key, ${enqueueOptions.projectId ?? null}::uuid, j.payload,
          now() + ${interval(enqueueOptions.delayMs ?? 0)}
        FROM jsonb_to_recordset(${rows}::jsonb) AS j(key text, payload jsonb)
        ON CONFLICT (queue, key) DO NOTHING`;
      return tx ? await tx.$executeRaw(statement) : (await db.query(statement)).rowCount;
    },
    async cancel(queue, field, value, tx) {
      const statement = Prisma.sql`
        DELETE FROM jobs WHERE queue = ${queue.name} AND payload ->> ${field} = ${value}
          AND (locked_until IS NULL OR locked_until < now())`;
      return tx ? await tx.$executeRaw(statement) : (await db.query(statement)).rowCount;
    },
    async pending(queue, match) {
      const { rows } = await db.query<{ n: number }>(Prisma.sql`
        SELECT count(*)::int AS n FROM jobs WHERE queue = ${queue.name} AND payload @> ${JSON.stringify(match)}::jsonb`);
      return rows[0]!.n;
    },
    async pendingBy(queue, projectId, fields) {
      const values = Prisma.sql`ARRAY[${Prisma.join(fields.map((f) => Prisma.sql`payload ->> ${f}`))}]`;
      const { rows } = await db.query<{ values: string[]; n: number }>(Prisma.sql`
        SELECT ${values} AS values, count(*)::int AS n FROM jobs
        WHERE project_id = ${projectId}::uuid AND queue = ${queue.name} GROUP BY 1`);
      return rows;
    },
    wake(...queues) {
      const names = new Set(queues.map((q) => q.name));
      for (const l of loops) if (names.size === 0 || names.has(l.queue)) l.enqueued();
    },
    start() {
      if (started) return;
      started = true;
      const ready = options.soleWorker
        ? db
            .query(Prisma.sql`
              UPDATE jobs SET locked_by = NULL, locked_until = NULL, last_error = 'its worker stopped'
              WHERE locked_by IS NOT NULL`)
            .then((r) => {
              if (r.rowCount > 0) logger.info({ jobs: r.rowCount }, "jobs a stopped process held are free again");
            })
            .catch((err) => logger.warn({ err }, "could not free the jobs a stopped process held"))
        : Promise.resolve();
      for (const queue of options.queues) loops.push(loop(queue, ready));
    },
    async stop() {
      stopping.abort();
      for (const l of loops) l.wake();
      await Promise.all(loops.map((l) => l.done));
      await Promise.all(running);
    },
  };
}

/** Jobs of one project running (or claimed ahead) on an instance from which it is served after the others. */
const shareOf = (queue: Pick<Queue<never>, "concurrency">) => Math.max(1, Math.ceil(queue.concurrency / 2));

/** Projects a one-at-a-time queue remembers serving, for taking turns. */
const MAX_RECENT_PROJECTS = 256;

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
