// Tells every cache in every instance that something changed. Locally the message is delivered at once; on
// PostgreSQL it is also sent with NOTIFY so other instances drop their copies (they converge within milliseconds).
// While the LISTEN connection is down, `healthy` is false and caches must not serve from memory: a missed
// notification would otherwise leave a stale prompt in place until restart.
//
// The bus is also how services write (`write`, see writes.ts): what a write changed is announced after its commit,
// as topics to the caches and as changes to the after-commit hook (`onChange`), so no write can forget either.
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { z } from "zod";
import type { Database } from "./client.js";
import { type Change, ChangeSchema, type Write, type WriteOptions, topicOf } from "./writes.js";
import { Prisma } from "../generated/prisma/client.js";

const CHANNEL = "promptreg_invalidate";
/**
 * Changes travel on a channel of their own, as JSON: the topic channel keeps the text form every instance reads
 * (see formatTopic), and an older instance, which does not listen here, is not disturbed by a form it cannot read.
 */
const CHANGES_CHANNEL = "promptreg_change";
const ChangeMessage = z.object({ from: z.string(), change: ChangeSchema });

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

/** Where a change was made: "local" on the instance that committed it (exactly once), "remote" on the others. */
export type ChangeOrigin = "local" | "remote";

export interface InvalidationBus {
  /** Delivers `topic` to local subscribers now and to other instances after commit. */
  publish(topic: Topic): Promise<void>;
  subscribe(onTopic: (topic: Topic) => void): void;
  /**
   * Runs `fn` in one transaction. After it commits, and before this resolves, the changes it recorded are announced:
   * their topics to every instance's caches, then the changes to `onChange` listeners. The announcement is
   * best-effort (failures are logged, never thrown): the write has committed, and a retry would repeat it.
   */
  write<T>(fn: (w: Write) => Promise<T>, options?: WriteOptions): Promise<T>;
  /**
   * The after-commit hook: hears every change committed here, and those of other instances (PostgreSQL), each
   * after the caches have dropped what it touched. A listener must not throw (a throw is logged and ignored) nor
   * block; it returns at once and does its work later. Returns the function that stops listening. Other
   * instances' changes made while `healthy` is false are not heard: a listener that must miss none (a stream to
   * clients) also subscribes to topics, where `{ kind: "all" }` says that some may have been missed.
   */
  onChange(listener: (change: Change, origin: ChangeOrigin) => void): () => void;
  /** False while cross-instance notifications may be missed. */
  readonly healthy: boolean;
  close(): Promise<void>;
}

export async function createInvalidationBus(db: Database, logger: Logger): Promise<InvalidationBus> {
  const subscribers: ((topic: Topic) => void)[] = [];
  const deliver = (topic: Topic) => {
    for (const fn of subscribers) fn(topic);
  };
  const listeners = new Set<(change: Change, origin: ChangeOrigin) => void>();
  const tell = (change: Change, origin: ChangeOrigin) => {
    for (const listener of listeners)
      try {
        listener(change, origin);
      } catch (err) {
        logger.error({ err, change }, "an after-commit listener threw; the change stands");
      }
  };
  // From another instance. One this version cannot read may name anything: dropping everything is the safe answer.
  const receive = (payload: string) => {
    const topic = parseTopic(payload);
    if (!topic) logger.warn({ payload }, "unknown invalidation topic; dropping every cached entry");
    deliver(topic ?? ALL);
  };
  // This instance's own changes come back too (its listening connection is not the one that sent them): they were
  // told as "local" already, so each listener hears each change once.
  const self = randomUUID();
  // One this version cannot read (a newer instance's kind) is not told; its topic came on the other channel.
  const receiveChange = (payload: string) => {
    let parsed: ReturnType<typeof ChangeMessage.safeParse> | undefined;
    try {
      parsed = ChangeMessage.safeParse(JSON.parse(payload));
    } catch {}
    if (!parsed?.success) logger.warn({ payload }, "unknown change from another instance; not told to listeners");
    else if (parsed.data.from !== self) tell(parsed.data.change, "remote");
  };
  /** Sends each [channel, payload] in one statement, so they arrive in this order; logs rather than throws. */
  const notify = async (messages: [string, string][]) => {
    if (db.kind !== "postgres" || messages.length === 0) return;
    await db
      .query(Prisma.sql`
        SELECT pg_notify(m.channel, m.payload)
        FROM unnest(${messages.map((m) => m[0])}::text[], ${messages.map((m) => m[1])}::text[]) AS m(channel, payload)`)
      .catch((err: Error) =>
        logger.warn(
          { err: err.message, payloads: messages.map((m) => m[1]) },
          "NOTIFY failed; other instances converge when their cache entries expire",
        ),
      );
  };
  let healthy = db.kind === "pglite"; // one process owns an embedded database: nothing to miss
  let stop: (() => Promise<void>) | undefined;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;

  const connect = async (attempt: number): Promise<void> => {
    if (!db.listen || closed) return;
    try {
      stop = await db.listen(
        [CHANNEL, CHANGES_CHANNEL],
        (channel, payload) => (channel === CHANNEL ? receive(payload) : receiveChange(payload)),
        (err) => {
          if (closed || !healthy) return;
          healthy = false;
          logger.warn({ err: err.message }, "invalidation listener lost; serving from the database until it is back");
          deliver(ALL);
          void stop?.();
          retryTimer = setTimeout(() => void connect(1), 500);
        },
      );
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
      await notify([[CHANNEL, formatTopic(topic)]]);
    },
    async write(fn, options) {
      const changes: Change[] = [];
      const result = await db.prisma.$transaction(
        (tx) => fn({ tx, record: (change) => void changes.push(change) }),
        options,
      );
      try {
        // Each topic once, however many changes touched it (a publish moves several labels of one prompt).
        const topics = new Map<string, Topic>();
        for (const change of changes) {
          const topic = topicOf(change);
          if (topic) topics.set(formatTopic(topic), topic);
        }
        for (const topic of topics.values()) deliver(topic);
        for (const change of changes) tell(change, "local");
        // Topics first: another instance drops its copies before its listeners hear why.
        await notify([
          ...[...topics.keys()].map((text): [string, string] => [CHANNEL, text]),
          ...changes.map((change): [string, string] => [CHANGES_CHANNEL, JSON.stringify({ from: self, change })]),
        ]);
      } catch (err) {
        logger.error({ err, changes }, "announcing committed changes failed; caches converge when entries expire");
      }
      return result;
    },
    onChange(listener) {
      // Wrapped, so that one function added twice is two listeners, each removed by its own stop.
      const entry = (change: Change, origin: ChangeOrigin) => listener(change, origin);
      listeners.add(entry);
      return () => void listeners.delete(entry);
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
