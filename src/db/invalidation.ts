// Tells every cache in every instance that something changed. Locally the message is delivered at once; on
// PostgreSQL it is also sent with NOTIFY so other instances drop their copies (they converge within milliseconds).
// While the LISTEN connection is down, `healthy` is false and caches must not serve from memory: a missed
// notification would otherwise leave a stale prompt in place until restart.
import type { Logger } from "pino";
import type { Database } from "./client.js";

const CHANNEL = "promptreg_invalidate";

export interface InvalidationBus {
  /** Delivers `topic` to local subscribers now and to other instances after commit. */
  publish(topic: string): Promise<void>;
  subscribe(onTopic: (topic: string) => void): void;
  /** False while cross-instance notifications may be missed. */
  readonly healthy: boolean;
  close(): Promise<void>;
}

export async function createInvalidationBus(db: Database, logger: Logger): Promise<InvalidationBus> {
  const subscribers: ((topic: string) => void)[] = [];
  const deliver = (topic: string) => subscribers.forEach((fn) => fn(topic));
  let healthy = db.kind === "pglite"; // one process owns an embedded database: nothing to miss
  let stop: (() => Promise<void>) | undefined;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;

  const connect = async (attempt: number): Promise<void> => {
    if (!db.listen || closed) return;
    try {
      stop = await db.listen(CHANNEL, deliver, (err) => {
        if (closed || !healthy) return;
        healthy = false;
        logger.warn({ err: err.message }, "invalidation listener lost; serving from the database until it is back");
        deliver("*");
        void stop?.();
        retryTimer = setTimeout(() => void connect(1), 500);
      });
      healthy = true;
      // Anything could have changed while we were not listening.
      if (attempt > 0) deliver("*");
    } catch (err) {
      logger.warn({ err: (err as Error).message, attempt }, "cannot LISTEN for invalidations; retrying");
      retryTimer = setTimeout(() => void connect(attempt + 1), Math.min(30_000, 500 * 2 ** attempt));
    }
  };
  await connect(0);

  return {
    async publish(topic) {
      deliver(topic);
      if (db.kind === "postgres") {
        await db.prisma.$executeRaw`SELECT pg_notify(${CHANNEL}, ${topic})`.catch((err: Error) =>
          logger.warn({ err: err.message, topic }, "NOTIFY failed; other instances converge when their cache entries expire"),
        );
      }
    },
    subscribe(fn) {
      subscribers.push(fn);
    },
    get healthy() {
      return healthy;
    },
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      await stop?.();
    },
  };
}
