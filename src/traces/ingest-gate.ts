// Admission to the trace receiver, after the key is known and before the body is read. A request holds a ticket from
// then until its answer has gone out; the body is read under the ticket (its bytes counted), and storing it waits for
// one of the few slots that work on the database at once.
// - Bounded: tickets and buffered bytes have totals; past them a request is refused at once with 503 and Retry-After,
//   which OTLP exporters retry with backoff. Nothing is dropped silently.
// - Fair: one project may hold at most its share of the tickets and of the buffered bytes (half by default), and one
//   key a few tickets, so a flood from one project, or one slow sender, cannot take what another project's exporter
//   needs; free slots go to the waiting projects in turn, not in arrival order.
// - A slow sender costs its own ticket only: the body is read before a slot is taken (its reading is bounded in time
//   by the route), so no slot waits on a network; and a slot is taken per statement, so a large batch holds it one
//   chunk at a time.
// - Honest: a ticket is given back when the request's work has ended, not when its caller goes away, so what is
//   counted is what runs.
import { AppError } from "../http/errors.js";

export interface IngestGateOptions {
  /** Requests storing at once; 0 refuses every request. */
  maxInFlight: number;
  /** Requests admitted beyond those: reading their body or waiting for a slot. */
  maxQueued: number;
  /** Tickets one project may hold; default half of maxInFlight + maxQueued (at least 1). */
  maxPerProject?: number;
  /** Tickets one key may hold. */
  maxPerKey: number;
  /** Bytes admitted requests hold at once (bodies, then the batches made of them); one project may hold half. */
  maxBufferedBytes: number;
  /** How long a request whose body is read waits for a slot before it is refused. */
  maxWaitMs: number;
  /** Sent as Retry-After (seconds) on refusal. */
  retryAfterSeconds: number;
  /** The window `utilization` looks back over, in milliseconds; default 250. */
  utilizationWindowMs?: number;
  /** Milliseconds on a monotonic clock (tests inject one). */
  now?: () => number;
}

export interface Ticket {
  /** Counts `bytes` more held for the request; throws AppError (503 or 429) when that would pass a bound. */
  reserve(bytes: number): void;
  /** Counts `bytes` the request no longer holds. */
  free(bytes: number): void;
  /**
   * Runs `work` (one statement's worth) holding a slot: waits for its turn, free slots going to the waiting projects
   * in turn, at most maxWaitMs (then AppError 503). A large batch takes a slot per chunk, so another project's
   * request waits for one chunk, not for the whole batch.
   */
  withSlot<T>(work: () => Promise<T>): Promise<T>;
  /** The request is gone: a wait for a slot, and any later one, ends at once. Work under way finishes. */
  abandon(): void;
  /** Gives back the ticket and its bytes, once the request's work has ended (idempotent). */
  release(): void;
}

const gone = () => new AppError("bad_request", "the request was abandoned while it waited");

export type IngestGate = ReturnType<typeof createIngestGate>;

interface Holder {
  tickets: number;
  bytes: number;
}

export function createIngestGate(options: IngestGateOptions) {
  const maxTickets = options.maxInFlight + options.maxQueued;
  const perProject = options.maxPerProject ?? Math.max(1, Math.floor(maxTickets / 2));
  const perProjectBytes = Math.floor(options.maxBufferedBytes / 2);
  let tickets = 0;
  let bytes = 0;
  let inFlight = 0;
  const now = options.now ?? (() => performance.now());
  const windowMs = options.utilizationWindowMs ?? 250;
  // The stretches of time with at least one request storing (holding a slot: a body still arriving does not count)
  // that ended within the window, oldest first, and the start of the current one: at most one per request, so
  // bounded by the request rate over the window.
  const stretches: { start: number; end: number }[] = [];
  let busySince = 0;
  /** Drops the stretches that ended before the window that ends at `t`; returns the window's start. */
  const forget = (t: number) => {
    const from = t - windowMs;
    while (stretches.length > 0 && stretches[0]!.end <= from) stretches.shift();
    return from;
  };
  const projects = new Map<string, Holder>();
  const keys = new Map<string, number>();
  // Waiters by project; the map's order is the turn order: a project served goes to the back.
  const waiting = new Map<string, { grant: () => void; timer: NodeJS.Timeout }[]>();

  const refuse = (code: "unavailable" | "rate_limited", why: string) =>
    new AppError(
      code,
      `the trace receiver is ${code === "unavailable" ? "overloaded" : "busy with this key's project"} (${why}); retry later`,
      {
        retryAfterSeconds: options.retryAfterSeconds,
      },
    );

  // A freed slot passes to the first project in turn that has a waiter.
  const grantNext = () => {
    for (const [projectId, queue] of waiting) {
      const next = queue.shift();
      waiting.delete(projectId);
      if (queue.length > 0) waiting.set(projectId, queue);
      if (!next) continue;
      clearTimeout(next.timer);
      next.grant();
      return;
    }
    inFlight--;
    if (inFlight === 0) {
      const t = now();
      stretches.push({ start: busySince, end: t });
      forget(t);
    }
  };

  return {
    /**
     * The share of the last window (250 ms) during which the receiver was storing, in [0, 1]: background work takes
     * what is left (src/jobs/runner.ts), so a receiver at full load keeps its throughput and one that is mostly idle
     * lets evaluations run at full speed.
     */
    utilization(): number {
      const t = now();
      const from = forget(t);
      let busy = inFlight > 0 ? t - Math.max(busySince, from) : 0;
      for (const s of stretches) busy += s.end - Math.max(s.start, from);
      return Math.min(1, busy / windowMs);
    },
    /**
     * A ticket for a request of `projectId` made with `keyId`; throws AppError when the receiver is saturated (503)
     * or the project or key holds its share already (429).
     */
    enter(projectId: string, keyId: string): Ticket {
      if (options.maxInFlight === 0) throw refuse("unavailable", "ingestion is turned off on this instance");
      const project = projects.get(projectId) ?? { tickets: 0, bytes: 0 };
      const keyTickets = keys.get(keyId) ?? 0;
      if (tickets >= maxTickets) throw refuse("unavailable", `${tickets} requests admitted`);
      if (project.tickets >= perProject)
        throw refuse("rate_limited", `the project has ${project.tickets} requests in progress, its share`);
      if (keyTickets >= options.maxPerKey)
        throw refuse("rate_limited", `the key has ${keyTickets} requests in progress, at most ${options.maxPerKey}`);
      tickets++;
      project.tickets++;
      projects.set(projectId, project);
      keys.set(keyId, keyTickets + 1);

      let held = 0;
      let state: "admitted" | "waiting" | "storing" | "released" = "admitted";
      let abandoned = false;
      // Ends a wait without a slot: on timeout, or when the request is gone.
      let cancelWait = (_err: AppError) => {};

      const acquire = (): Promise<void> => {
        if (abandoned) return Promise.reject(gone());
        if (inFlight < options.maxInFlight) {
          if (inFlight === 0) busySince = now();
          inFlight++;
          state = "storing";
          return Promise.resolve();
        }
        state = "waiting";
        return new Promise<void>((resolve, reject) => {
          const entry = {
            grant: () => {
              state = "storing";
              resolve();
            },
            timer: setTimeout(
              () => cancelWait(refuse("unavailable", `no slot within ${options.maxWaitMs} ms`)),
              options.maxWaitMs,
            ),
          };
          const queue = waiting.get(projectId) ?? [];
          queue.push(entry);
          if (!waiting.has(projectId)) waiting.set(projectId, queue);
          cancelWait = (err) => {
            clearTimeout(entry.timer);
            const i = queue.indexOf(entry);
            if (i >= 0) queue.splice(i, 1);
            if (queue.length === 0 && waiting.get(projectId) === queue) waiting.delete(projectId);
            cancelWait = () => {};
            state = "admitted";
            reject(err);
          };
        });
      };

      return {
        reserve(n) {
          if (state === "released") return;
          if (bytes + n > options.maxBufferedBytes)
            throw refuse("unavailable", `${bytes} bytes of requests held, at most ${options.maxBufferedBytes}`);
          if (project.bytes + n > perProjectBytes)
            throw refuse("rate_limited", `the project's requests hold ${project.bytes} bytes, its share`);
          bytes += n;
          project.bytes += n;
          held += n;
        },
        free(n) {
          if (state === "released") return;
          const freed = Math.min(n, held);
          bytes -= freed;
          project.bytes -= freed;
          held -= freed;
        },
        async withSlot(work) {
          if (state !== "admitted") throw new Error(`withSlot() of a ticket ${state}`);
          await acquire();
          try {
            return await work();
          } finally {
            state = "admitted";
            grantNext();
          }
        },
        abandon() {
          abandoned = true;
          if (state === "waiting") cancelWait(gone());
        },
        release() {
          if (state === "released") return;
          if (state === "waiting") cancelWait(gone());
          if (state === "storing") grantNext();
          state = "released";
          tickets--;
          bytes -= held;
          project.bytes -= held;
          if (--project.tickets === 0) projects.delete(projectId);
          const k = keys.get(keyId)! - 1;
          if (k === 0) keys.delete(keyId);
          else keys.set(keyId, k);
        },
      };
    },
    get inFlight() {
      return inFlight;
    },
    get tickets() {
      return tickets;
    },
  };
}
