// The live-update stream: every committed change a client may hold a copy of (a version published, a label moved,
// rolled back or deleted, a guarded rollout's state, a prompt deleted), sent to the streams of its project as server-sent events.
//
// - Source: the bus's after-commit hook, which hears this instance's changes and, on PostgreSQL, every other
//   instance's over LISTEN/NOTIFY; so each instance serves its own subscribers everything. The hook cannot say what it
//   missed while the listener was down: the topic `{ kind: "all" }` says that some may have been, and becomes a
//   `reset` event (refresh everything).
// - Ids: `<instance>.<sequence>`, the instance a random name drawn at start. Instances hear the same changes in the
//   same order but not at the same moment, nor the same `all`s: a shared numbering would need the database on every
//   event. A sequence of one's own is exact, and a resume at another instance (or after a restart) is honoured the
//   only way it can be, by a reset.
// - Resume: the last `replaySize` events of every project are kept; a `Last-Event-ID` within them is answered with
//   what followed it, anything older or foreign with a reset.
// - Bounded: streams per instance and per key are capped (503 and Retry-After past it); a stream whose unsent bytes
//   pass `maxBufferBytes` (a reader that stopped reading) is cut rather than buffered for; heartbeats (a comment line,
//   and the current id: see `position`)
//   keep proxies from closing idle streams and find dead readers; a stream ends after `maxStreamMs` and the client
//   resumes, so a key revoked while a notification was lost stops receiving then at the latest.
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import type { ServerResponse } from "node:http";
import type { LiveEvent } from "@promptreg/client/contract";
import type { Logger } from "pino";
import type { Principal } from "../auth/principal.js";
import type { InvalidationBus } from "../db/invalidation.js";
import type { Change } from "../db/writes.js";
import { EVENTS_DEFAULTS } from "../config.js";
import { AppError } from "../http/errors.js";

export type EventsOptions = { -readonly [K in keyof typeof EVENTS_DEFAULTS]: number } & {
  /** A stream ends after this long, and its client resumes. */
  maxStreamMs: number;
};
export const MAX_STREAM_MS = 15 * 60_000;

/** Sent as Retry-After (seconds) when a cap refuses a stream. */
export const STREAM_RETRY_AFTER_SECONDS = 5;

/**
 * The event a change is to a client, or undefined when no client holds what it changed. Every kind is decided here
 * (the switch is exhaustive), so a new kind of change is one more case.
 */
export function liveEventOf(change: Change): LiveEvent | undefined {
  switch (change.kind) {
    case "version.published":
      return { type: "version.published", prompt: change.name, version: change.version };
    case "label.moved": {
      const type = (
        {
          set: "label.moved",
          rollback: "label.rolled_back",
          delete: "label.deleted",
          rollout_finished: "label.moved",
        } as const
      )[change.action];
      return {
        type,
        prompt: change.name,
        label: change.label,
        fromVersion: change.fromVersion,
        toVersion: change.toVersion,
      };
    }
    case "prompt.deleted":
      return { type: "prompt.deleted", prompt: change.name };
    case "rollout.changed":
      return {
        type: `rollout.${change.action}`,
        prompt: change.name,
        label: change.label,
        rolloutId: change.rolloutId,
        step: change.step,
        share: change.share,
      };
    // A prompt without versions resolves to nothing, and its description and tags are not part of a resolution.
    case "prompt.created":
    case "prompt.updated":
    // Nothing a client resolves.
    case "key.created":
    case "key.deleted":
    case "project.created":
    case "project.updated":
    case "evaluator.changed":
    case "dataset.changed":
      return undefined;
  }
}

interface Stream {
  res: ServerResponse;
  projectId: string;
  keyId: string;
  openedAt: number;
}

interface Kept {
  seq: number;
  /** Undefined: for every project (a reset). */
  projectId: string | undefined;
  frame: string;
}

/** Why a stream ended: the client left, it was cut for reading too slowly, or the server ended it. */
export type StreamEnd = "left" | "slow" | "ended";

export interface EventHub {
  /**
   * Answers `res` with the stream of `principal`'s project, from after `lastEventId` when it can.
   * @throws {AppError} `unavailable` (with Retry-After set) past a cap, or once the hub is closed
   */
  open(principal: Principal, res: ServerResponse, lastEventId: string | undefined): void;
  /** Streams open now. */
  readonly size: number;
  /**
   * Emits `opened` ({ resumed }: a Last-Event-ID was honoured exactly) when a stream is answered, and `closed` (its
   * StreamEnd, and the bytes it left unsent) when one ends: what tests wait on.
   */
  readonly lifecycle: EventEmitter;
  /** Ends every stream and refuses new ones; for a graceful stop, before the server waits for its connections. */
  close(): void;
}

export function createEventHub({
  bus,
  logger,
  options = {},
  now = Date.now,
}: {
  bus: InvalidationBus;
  logger: Logger;
  /** Each undefined one is its default. */
  options?: { [K in keyof EventsOptions]?: number | undefined };
  now?: () => number;
}): EventHub {
  const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  const settings: EventsOptions = { ...EVENTS_DEFAULTS, maxStreamMs: MAX_STREAM_MS, ...given };
  const instance = randomBytes(6).toString("base64url");
  let seq = 0;
  // A ring of the last `replaySize` events: `kept[seq % size]`.
  const kept: (Kept | undefined)[] = new Array(settings.replaySize);
  const streams = new Set<Stream>();
  const perKey = new Map<string, number>();
  const lifecycle = new EventEmitter();
  let closed = false;

  const idOf = (n: number) => `${instance}.${n}`;
  /**
   * The current id, with no event (a reader sets its last event id and dispatches nothing): every event of the
   * stream's project up to it has been written before it on the same stream, so a reader resumes from here. Without
   * it a subscriber of a quiet project would keep the id of its last event, which the events of busier projects
   * push out of the replay window, and every reconnection would be a reset.
   */
  const position = () => `id: ${idOf(seq)}\n\n`;
  const frameOf = (n: number, event: LiveEvent) =>
    `id: ${idOf(n)}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;

  const end = (stream: Stream, why: StreamEnd) => {
    if (!streams.delete(stream)) return;
    const buffered = stream.res.writableLength;
    const count = (perKey.get(stream.keyId) ?? 1) - 1;
    if (count === 0) perKey.delete(stream.keyId);
    else perKey.set(stream.keyId, count);
    if (why === "slow") {
      logger.warn({ keyId: stream.keyId, buffered }, "event stream cut: its reader is too slow");
      stream.res.destroy();
    } else if (why === "ended") stream.res.end();
    lifecycle.emit("closed", why, buffered);
  };

  /** Writes unless the reader has left `maxBufferBytes` unread: then the stream is cut, so it never holds more. */
  const send = (stream: Stream, text: string) => {
    if (stream.res.writableLength > settings.maxBufferBytes) return end(stream, "slow");
    stream.res.write(text);
  };

  const emit = (projectId: string | undefined, event: LiveEvent) => {
    const n = ++seq;
    const frame = frameOf(n, event);
    if (settings.replaySize > 0) kept[n % settings.replaySize] = { seq: n, projectId, frame };
    for (const stream of streams) if (projectId === undefined || stream.projectId === projectId) send(stream, frame);
  };

  bus.onChange((change) => {
    const event = liveEventOf(change);
    if (event) emit(change.projectId, event);
  });
  bus.subscribe((topic) => {
    if (topic.kind === "all") emit(undefined, { type: "reset", reason: "changes may have been missed" });
    // A deleted key's streams end at once (on other instances too: the topic travels with the change).
    else if (topic.kind === "key") for (const stream of streams) if (stream.keyId === topic.keyId) end(stream, "ended");
  });

  const heartbeat = setInterval(() => {
    const time = now();
    for (const stream of streams) {
      if (time - stream.openedAt >= settings.maxStreamMs) end(stream, "ended");
      else send(stream, `: heartbeat\n${position()}`);
    }
  }, settings.heartbeatMs);
  heartbeat.unref();

  /** The frames that follow `lastEventId` for `projectId`, or undefined when they cannot all be known. */
  const replay = (lastEventId: string, projectId: string): string[] | undefined => {
    const dot = lastEventId.lastIndexOf(".");
    const last = Number(lastEventId.slice(dot + 1));
    if (lastEventId.slice(0, dot) !== instance || !Number.isSafeInteger(last) || last < 0 || last > seq)
      return undefined;
    if (seq - last > settings.replaySize) return undefined;
    const frames: string[] = [];
    for (let n = last + 1; n <= seq; n++) {
      const entry = kept[n % settings.replaySize];
      if (entry?.seq !== n) return undefined;
      if (entry.projectId === undefined || entry.projectId === projectId) frames.push(entry.frame);
    }
    return frames;
  };

  return {
    open(principal, res, lastEventId) {
      const refuse = (message: string) => {
        res.setHeader("Retry-After", String(STREAM_RETRY_AFTER_SECONDS));
        return new AppError("unavailable", message);
      };
      if (closed) throw refuse("the server is stopping");
      if (streams.size >= settings.maxStreams)
        throw refuse(`this instance serves its limit of ${settings.maxStreams} event streams`);
      if ((perKey.get(principal.keyId) ?? 0) >= settings.maxPerKey)
        throw refuse(`this key has its limit of ${settings.maxPerKey} event streams on this instance`);
      res.statusCode = 200;
      res.setHeader("Content-Type", "text/event-stream; charset=utf-8");
      res.setHeader("Cache-Control", "no-store");
      // A proxy that buffers answers (nginx does by default) would hold every event back.
      res.setHeader("X-Accel-Buffering", "no");
      // The connection is not reused after the stream: a client may have told its socket not to keep its process
      // alive while only the stream is open, which must not carry over to a later request on the same socket.
      res.setHeader("Connection", "close");
      const stream: Stream = { res, projectId: principal.projectId, keyId: principal.keyId, openedAt: now() };
      streams.add(stream);
      perKey.set(stream.keyId, (perKey.get(stream.keyId) ?? 0) + 1);
      res.on("close", () => end(stream, "left"));
      const frames = lastEventId === undefined ? [] : replay(lastEventId, principal.projectId);
      // The comment makes the headers and a first chunk leave at once, so that the client knows it is subscribed.
      res.write(": subscribed\n\n");
      if (frames) for (const frame of frames) send(stream, frame);
      else send(stream, frameOf(seq, { type: "reset", reason: "cannot resume from the Last-Event-ID given" }));
      send(stream, position());
      lifecycle.emit("opened", { resumed: lastEventId !== undefined && frames !== undefined });
    },
    get size() {
      return streams.size;
    },
    lifecycle,
    close() {
      closed = true;
      clearInterval(heartbeat);
      for (const stream of streams) end(stream, "ended");
    },
  };
}
