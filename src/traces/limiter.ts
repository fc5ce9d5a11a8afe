// Bounds the ingestion work in progress. A request takes a slot before its body is read, so queued requests hold
// only their sockets, not decoded batches. When every slot is busy it waits in a bounded queue for a limited
// time; past that it is refused with 503 and Retry-After, which OTLP exporters retry with backoff. Nothing is
// dropped silently.
import { AppError } from "../http/errors.js";

export interface LimiterOptions {
  /** Requests processed at once; 0 refuses every request. */
  maxInFlight: number;
  /** Requests waiting for a slot; beyond that a request is refused at once. */
  maxQueued: number;
  /** How long a queued request waits before it is refused. */
  maxWaitMs: number;
  /** Sent as Retry-After (seconds) on refusal. */
  retryAfterSeconds: number;
}

export type Release = () => void;

export type Limiter = ReturnType<typeof createLimiter>;

export function createLimiter(options: LimiterOptions) {
  let inFlight = 0;
  const queue: { grant: (release: Release) => void; timer: NodeJS.Timeout }[] = [];

  const overloaded = (why: string) =>
    new AppError("unavailable", `the trace receiver is overloaded (${why}); retry later`, {
      retryAfterSeconds: options.retryAfterSeconds,
    });

  const release: Release = () => {
    const next = queue.shift();
    if (next) {
      // The slot passes straight to the next waiter, so inFlight does not change.
      clearTimeout(next.timer);
      next.grant(once(release));
    } else inFlight--;
  };

  return {
    /** Resolves with a release function once a slot is free; throws AppError("unavailable") when overloaded. */
    acquire(): Promise<Release> {
      if (inFlight < options.maxInFlight) {
        inFlight++;
        return Promise.resolve(once(release));
      }
      if (options.maxInFlight === 0 || queue.length >= options.maxQueued)
        return Promise.reject(overloaded(`${inFlight} requests in progress, ${queue.length} queued`));
      return new Promise<Release>((resolve, reject) => {
        const entry = {
          grant: resolve,
          timer: setTimeout(() => {
            queue.splice(queue.indexOf(entry), 1);
            reject(overloaded(`no slot within ${options.maxWaitMs} ms`));
          }, options.maxWaitMs),
        };
        queue.push(entry);
      });
    },
    get inFlight() {
      return inFlight;
    },
    get queued() {
      return queue.length;
    },
  };
}

function once(fn: Release): Release {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
