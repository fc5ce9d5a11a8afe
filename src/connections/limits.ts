// A connection's limits on the calls this instance makes through it: at most maxConcurrency at once (a call waits
// for a slot) and at most requestsPerMinute in any minute (a call past it is told when to come back, as a 429 with
// Retry-After would, so a job is retried then instead of holding a worker). Per instance: several instances share a
// connection's limits only as far as each keeps to them.
import { OutboundError } from "../outbound/outbound.js";

export interface ConnectionLimits {
  id: string;
  name: string;
  maxConcurrency: number;
  requestsPerMinute: number | null;
}

const MINUTE_MS = 60_000;

export function createConnectionLimiter(now: () => number = Date.now) {
  const slots = new Map<string, { busy: number; waiting: (() => void)[] }>();
  const starts = new Map<string, number[]>();

  return {
    /** Takes a slot (waiting for one) and a place in the minute's budget; returns the function that frees the slot. */
    async acquire(c: ConnectionLimits, signal?: AbortSignal): Promise<() => void> {
      if (c.requestsPerMinute !== null) {
        const t = now();
        const recent = (starts.get(c.id) ?? []).filter((s) => s > t - MINUTE_MS);
        if (recent.length >= c.requestsPerMinute)
          throw new OutboundError(
            `connection '${c.name}' made ${recent.length} calls in the last minute (its requestsPerMinute)`,
            true,
            recent[0]! + MINUTE_MS - t,
          );
        recent.push(t);
        starts.set(c.id, recent);
      }
      let slot = slots.get(c.id);
      if (!slot) slots.set(c.id, (slot = { busy: 0, waiting: [] }));
      const s = slot;
      while (s.busy >= c.maxConcurrency) {
        signal?.throwIfAborted();
        await new Promise<void>((resolve) => {
          const wake = () => {
            signal?.removeEventListener("abort", wake);
            resolve();
          };
          s.waiting.push(wake);
          signal?.addEventListener("abort", wake, { once: true });
        });
      }
      signal?.throwIfAborted();
      s.busy += 1;
      let freed = false;
      return () => {
        if (freed) return;
        freed = true;
        s.busy -= 1;
        s.waiting.shift()?.();
        if (s.busy === 0 && s.waiting.length === 0) slots.delete(c.id);
      };
    },
  };
}
export type ConnectionLimiter = ReturnType<typeof createConnectionLimiter>;
