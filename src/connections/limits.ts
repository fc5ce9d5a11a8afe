// A connection's limits on the calls this instance makes through it: at most maxConcurrency at once and at most
// requestsPerMinute in any minute. A call that finds every slot taken waits a little for one (MAX_WAIT_MS), then is
// not made: it is told when to come back (NotSentError), so a background job hands its worker back rather than holding
// it while a slow or silent server keeps the connection's slots (one project's black hole must not hold every
// project's evaluations). Per instance: several instances share a connection's limits only as far as each keeps to
// them.
import { NotSentError } from "../outbound/outbound.js";

export interface ConnectionLimits {
  id: string;
  name: string;
  maxConcurrency: number;
  requestsPerMinute: number | null;
  /** What the limits are of, in a NotSentError's message (default: the connection by name). */
  what?: string;
}

const MINUTE_MS = 60_000;
/** How long a call waits for a slot before it is handed back. */
const MAX_WAIT_MS = 2_000;

interface Slots {
  busy: number;
  waiting: Set<() => void>;
}

export function createConnectionLimiter({
  now = Date.now,
  maxWaitMs = MAX_WAIT_MS,
}: {
  now?: () => number;
  maxWaitMs?: number;
} = {}) {
  const slots = new Map<string, Slots>();
  const starts = new Map<string, number[]>();

  /** Resolves true when a slot may have freed, false after `ms` or on abort. The waiter is gone either way. */
  function waitForSlot(s: Slots, ms: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (freed: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", aborted);
        s.waiting.delete(woken);
        resolve(freed);
      };
      const woken = () => done(true);
      const aborted = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      s.waiting.add(woken);
      signal?.addEventListener("abort", aborted, { once: true });
    });
  }

  return {
    /**
     * Takes a slot (waiting up to MAX_WAIT_MS for one) and a place in the minute's budget, or throws NotSentError;
     * returns the function that frees the slot.
     */
    async acquire(c: ConnectionLimits, signal?: AbortSignal): Promise<() => void> {
      let s = slots.get(c.id);
      if (!s) slots.set(c.id, (s = { busy: 0, waiting: new Set() }));
      const deadline = now() + maxWaitMs;
      while (s.busy >= c.maxConcurrency) {
        const left = deadline - now();
        if (left <= 0 || !(await waitForSlot(s, left, signal))) {
          signal?.throwIfAborted();
          if (s.busy >= c.maxConcurrency)
            throw new NotSentError(
              `${c.what ?? `connection '${c.name}'`} has ${s.busy} calls in flight (its maxConcurrency)`,
              MAX_WAIT_MS / 2 + Math.floor(Math.random() * MAX_WAIT_MS),
            );
        }
      }
      if (c.requestsPerMinute !== null) {
        const t = now();
        const recent = (starts.get(c.id) ?? []).filter((x) => x > t - MINUTE_MS);
        if (recent.length >= c.requestsPerMinute)
          throw new NotSentError(
            `connection '${c.name}' made ${recent.length} calls in the last minute (its requestsPerMinute)`,
            recent[0]! + MINUTE_MS - t,
          );
        recent.push(t);
        starts.set(c.id, recent);
      }
      s.busy += 1;
      const held = s;
      let freed = false;
      return () => {
        if (freed) return;
        freed = true;
        held.busy -= 1;
        // One waiter takes the slot; the others keep waiting (each re-checks when woken).
        const next = held.waiting.values().next();
        if (!next.done) next.value();
        if (held.busy === 0 && held.waiting.size === 0) slots.delete(c.id);
      };
    },
  };
}
export type ConnectionLimiter = ReturnType<typeof createConnectionLimiter>;
