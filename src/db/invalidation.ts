// Tells every cache in every instance that something changed. Locally the message is delivered at once; on
// PostgreSQL it is also sent with NOTIFY so other instances drop their copies (they converge within milliseconds).
// While the LISTEN connection is down, `healthy` is false and caches must not serve from memory: a missed
// notification would otherwise leave a stale prompt in place until restart.
import type { Logger } from "pino";
import type { Database } from "./client.js";
import { Prisma } from "../generated/prisma/client.js";

const CHANNEL = "promptreg_invalidate";

/** What changed. Publishers and subscribers use this type; only this module reads or writes its text form. */
export type Topic =
  /** Anything may have changed (the listener was down): drop everything. */
  | { kind: "all" }
  /** A prompt's versions or labels. */
  | { kind: "prompt"; projectId: string; name: string }
  /** An API key was deleted. */
  | { kind: "key"; keyId: string }
  /** A project's settings changed (its protected labels). */
  | { kind: "project"; projectId: string };

const ALL: Topic = { kind: "all" };

/**
 * The text sent with NOTIFY. The format is the one instances have always sent, so that old and new instances
 * understand each other during a rolling deploy. Ids are UUIDs (no `:`); a prompt name is everything after them.
 */
export function formatTopic(topic: Topic): string {
  switch (topic.kind) {
    case "all":
      return "*";
    case "prompt":
      return `prompt:${topic.projectId}:${topic.name}`;
    case "key":
      return `key:${topic.keyId}`;
    case "project":
      return `project:${topic.projectId}`;
  }
}

/** The topic a NOTIFY payload names, or undefined when it is not one. */
export function parseTopic(text: string): Topic | undefined {
  if (text === "*") return ALL;
  const colon = text.indexOf(":");
  const kind = text.slice(0, colon);
  const rest = text.slice(colon + 1);
  if (colon < 0 || rest === "") return undefined;
  if (kind === "key") return { kind, keyId: rest };
  if (kind === "project") return { kind, projectId: rest };
  if (kind === "prompt") {
    const split = rest.indexOf(":");
    if (split <= 0 || split === rest.length - 1) return undefined;
    return { kind, projectId: rest.slice(0, split), name: rest.slice(split + 1) };
  }
  return undefined;
}

export interface InvalidationBus {
  /** Delivers `topic` to local subscribers now and to other instances after commit. */
  publish(topic: Topic): Promise<void>;
  subscribe(onTopic: (topic: Topic) => void): void;
  /** False while cross-instance notifications may be missed. */
  readonly healthy: boolean;
  close(): Promise<void>;
}

export async function createInvalidationBus(db: Database, logger: Logger): Promise<InvalidationBus> {
  const subscribers: ((topic: Topic) => void)[] = [];
  const deliver = (topic: Topic) => {
    for (const fn of subscribers) fn(topic);
  };
  // From another instance. One this version cannot read may name anything: dropping everything is the safe answer.
  const receive = (payload: string) => {
    const topic = parseTopic(payload);
    if (!topic) logger.warn({ payload }, "unknown invalidation topic; dropping every cached entry");
    deliver(topic ?? ALL);
  };
  let healthy = db.kind === "pglite"; // one process owns an embedded database: nothing to miss
  let stop: (() => Promise<void>) | undefined;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;

  const connect = async (attempt: number): Promise<void> => {
    if (!db.listen || closed) return;
    try {
      stop = await db.listen(CHANNEL, receive, (err) => {
        if (closed || !healthy) return;
        healthy = false;
        logger.warn({ err: err.message }, "invalidation listener lost; serving from the database until it is back");
        deliver(ALL);
        void stop?.();
        retryTimer = setTimeout(() => void connect(1), 500);
      });
      healthy = true;
      // Anything could have changed while we were not listening.
      if (attempt > 0) deliver(ALL);
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
        const text = formatTopic(topic);
        await db
          .query(Prisma.sql`SELECT pg_notify(${CHANNEL}, ${text})`)
          .catch((err: Error) =>
            logger.warn(
              { err: err.message, topic: text },
              "NOTIFY failed; other instances converge when their cache entries expire",
            ),
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
