// Live updates through the real pieces: the app on a real port and a real database, the client package, its stream
// read through fetch. The clients here keep a TTL of an hour, so that only the stream can explain a new answer.
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type RegistryClient, type RegistryError } from "@promptreg/client";
import { SseParser, type SseFrame } from "../client/src/live.js";
import { createApp } from "../src/app.js";
import { ConfigError, EVENTS_DEFAULTS, loadConfig } from "../src/config.js";
import { startServer } from "../src/server.js";
import { openDatabase, type Database } from "../src/db/client.js";
import { createInvalidationBus, type InvalidationBus } from "../src/db/invalidation.js";
import { createEventHub, type StreamEnd } from "../src/events/events.service.js";
import {
  createHarness,
  createTestDatabase,
  enc,
  silentLogger,
  TEST_DATABASE_URL,
  type Harness,
  type TestDatabase,
} from "./helpers/harness.js";
import { listen, serve, type Listener } from "./helpers/listen.js";

const HOUR = 3_600_000;

/** A stream opened by hand: its answer, and its events as they come. */
async function openStream(baseUrl: string, key: string, lastEventId?: string) {
  const controller = new AbortController();
  const res = await fetch(`${baseUrl}/api/v1/events`, {
    headers: { Authorization: `Bearer ${key}`, ...(lastEventId ? { "Last-Event-ID": lastEventId } : {}) },
    signal: controller.signal,
  });
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const reader = res.status === 200 ? res.body!.getReader() : undefined;
  const queue: SseFrame[] = [];
  return {
    res,
    /** The next event (a heartbeat is not one). */
    async next(): Promise<SseFrame> {
      while (queue.length === 0) {
        const { done, value } = await reader!.read();
        if (done) throw new Error("the stream ended");
        queue.push(...parser.push(decoder.decode(value, { stream: true })));
      }
      return queue.shift()!;
    },
    /** Reads until the stream's last id (of an event or not) is at least `sequence` of its instance; returns it. */
    async idAtLeast(sequence: number): Promise<string> {
      const sequenceOf = (id: string | undefined) =>
        id === undefined ? -1 : Number(id.slice(id.lastIndexOf(".") + 1));
      while (sequenceOf(parser.lastEventId) < sequence) {
        const { done, value } = await reader!.read();
        if (done) throw new Error("the stream ended");
        queue.push(...parser.push(decoder.decode(value, { stream: true })));
      }
      return parser.lastEventId!;
    },
    close: () => controller.abort(),
  };
}

/**
 * A proxy in front of `target` that can cut the streams passing through it (`cut`), refusing every connection until
 * `reopen`; it records the Last-Event-ID of each stream request.
 */
async function cuttingProxy(target: string) {
  let refusing = false;
  const lastEventIds: (string | undefined)[] = [];
  const streams = new Set<net.Socket>();
  const listener = await listen(
    http.createServer((req, res) => {
      if (refusing) return req.socket.destroy();
      if (req.url === "/api/v1/events") {
        lastEventIds.push(req.headers["last-event-id"] as string | undefined);
        streams.add(req.socket);
      }
      const upstream = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      });
      upstream.on("error", () => res.destroy());
      // A cut connection is cut through to the app.
      res.on("close", () => upstream.destroy());
      req.pipe(upstream);
    }),
  );
  return {
    ...listener,
    lastEventIds,
    cut() {
      refusing = true;
      for (const socket of streams) socket.destroy();
    },
    reopen() {
      refusing = false;
    },
  };
}

/** Resolves when `hub` next answers a stream, with whether it resumed exactly. */
const nextOpened = (h: Pick<Harness, "events">) =>
  once(h.events.lifecycle, "opened").then(([info]) => info as { resumed: boolean });

/** Resolves when `count` streams have ended. */
const closings = (h: Pick<Harness, "events">, count: number) =>
  new Promise<void>((resolve) => {
    let left = count;
    const heard = () => {
      if (--left > 0) return;
      h.events.lifecycle.off("closed", heard);
      resolve();
    };
    h.events.lifecycle.on("closed", heard);
  });

/** Awaits `condition`, yielding to the event loop between looks; the test's timeout is the only bound. */
async function until(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 5));
}

const versionOf = async (client: RegistryClient, name: string) => (await client.get(name)).version;

describe("live updates on one instance", () => {
  let h: Harness;
  let server: Listener;

  beforeAll(async () => {
    h = await createHarness();
    server = await serve(h.app);
  });
  afterAll(async () => {
    await server?.close();
    await h?.close();
  });

  const api = (method: string, path: string, body?: unknown, key = h.adminKey) =>
    fetch(`${server.url}/api/v1${path}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const publish = async (name: string, template: string) => {
    const res = await api("POST", `/prompts/${enc(name)}/versions`, { template, labels: ["production"] });
    expect(res.status).toBe(201);
  };
  const rollback = async (name: string) => {
    const res = await api("POST", `/prompts/${enc(name)}/labels/production/rollback`, { reason: "bad answers" });
    expect(res.status).toBe(200);
  };

  it("a client sees a rollback without waiting for its TTL, with one request carrying its ETag", async () => {
    await publish("live/a", "one");
    await publish("live/a", "two");
    const sent: { url: string; etag: string | null }[] = [];
    const client = createClient({
      baseUrl: server.url,
      apiKey: h.adminKey,
      ttlMs: HOUR,
      fetch: (input, init) => {
        sent.push({ url: String(input), etag: new Headers(init?.headers).get("if-none-match") });
        return fetch(input, init);
      },
    });
    try {
      const subscribed = nextOpened(h);
      expect(await versionOf(client, "live/a")).toBe("1.0.1");
      await subscribed;
      // Subscribing refreshed what was held (a change between the fetch and the subscription would be lost): wait
      // for it, so that the count below is the rollback's alone.
      await until(async () => sent.filter((s) => s.url.includes("/resolve")).length === 2);
      await rollback("live/a");
      await until(async () => (await versionOf(client, "live/a")) === "1.0.0");
      const refreshes = sent.filter((s) => s.url.includes("/resolve")).slice(2);
      expect(refreshes).toHaveLength(1);
      expect(refreshes[0]!.etag).toBeTruthy();
      expect((await client.get("live/a")).source).toBe("cache");
    } finally {
      client.close();
    }
  });

  it("a client's split follows a rollout's abort at once: every key back on the baseline, without the TTL", async () => {
    await publish("live/rollout", "one");
    expect((await api("POST", `/prompts/${enc("live/rollout")}/versions`, { template: "two" })).status).toBe(201);
    const started = await api("POST", `/prompts/${enc("live/rollout")}/labels/production/rollout`, {
      candidate: "1.0.1",
      steps: [{ share: 0.5 }, { share: 1 }],
      guard: { failure: "status", alpha: 0.05, minSample: 100 },
      autoRollback: true,
    });
    expect(started.status).toBe(201);
    const client = createClient({ baseUrl: server.url, apiKey: h.adminKey, ttlMs: HOUR });
    const keys = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    const versions = async () =>
      new Set(
        await Promise.all(keys.map(async (k) => (await client.get("live/rollout", { assignmentKey: k })).version)),
      );
    try {
      const subscribed = nextOpened(h);
      // Both arms are served while the rollout runs.
      expect(await versions()).toEqual(new Set(["1.0.0", "1.0.1"]));
      await subscribed;
      const events = await openStream(server.url, h.adminKey);
      const aborted = await api("POST", `/prompts/${enc("live/rollout")}/labels/production/rollout/abort`, {
        reason: "answers got worse",
      });
      expect(aborted.status).toBe(200);
      let frame = await events.next();
      while (frame.event !== "rollout.aborted") frame = await events.next();
      expect(JSON.parse(frame.data)).toMatchObject({ prompt: "live/rollout", label: "production", share: 0 });
      events.close();
      await until(async () => (await versions()).size === 1);
      expect(await versions()).toEqual(new Set(["1.0.0"]));
    } finally {
      client.close();
    }
  });

  it("a dropped connection resumes with Last-Event-ID and misses nothing", async () => {
    await publish("live/b", "one");
    await publish("live/b", "two");
    const proxy = await cuttingProxy(server.url);
    const client = createClient({ baseUrl: proxy.url, apiKey: h.adminKey, ttlMs: HOUR });
    try {
      let opened = nextOpened(h);
      expect(await versionOf(client, "live/b")).toBe("1.0.1");
      await opened;
      // An event to resume after: a label no one holds.
      const moved = api("PUT", `/prompts/${enc("live/b")}/labels/staging`, { version: "1.0.0" });
      expect((await moved).status).toBe(200);
      const cut = once(h.events.lifecycle, "closed");
      proxy.cut();
      expect((await cut)[0] as StreamEnd).toBe("left");
      await rollback("live/b");
      expect(await versionOf(client, "live/b")).toBe("1.0.1");
      opened = nextOpened(h);
      proxy.reopen();
      expect(await opened).toEqual({ resumed: true });
      expect(proxy.lastEventIds).toHaveLength(2);
      expect(proxy.lastEventIds[0]).toBeUndefined();
      expect(proxy.lastEventIds[1]).toMatch(/^[\w-]+\.\d+$/);
      await until(async () => (await versionOf(client, "live/b")) === "1.0.0");
    } finally {
      client.close();
      await proxy.close();
    }
  });

  it("the stream replays what followed an id to the same project only, and resets what it cannot replay", async () => {
    const first = await openStream(server.url, h.adminKey);
    await publish("live/c", "one");
    const published = await first.next();
    expect(published.event).toBe("version.published");
    expect(JSON.parse(published.data)).toEqual({ type: "version.published", prompt: "live/c", version: "1.0.0" });
    const moved = await first.next();
    expect(JSON.parse(moved.data)).toMatchObject({ type: "label.moved", label: "latest", toVersion: "1.0.0" });
    first.close();
    // Another project's changes are not its business.
    const other = await api("POST", "/projects", { name: "live-other" });
    const otherKey = ((await other.json()) as { adminKey: { key: string } }).adminKey.key;
    const res = await api("POST", `/prompts/${enc("live/c")}/versions`, { template: "theirs" }, otherKey);
    expect(res.status).toBe(201);
    await api("DELETE", `/prompts/${enc("live/c")}/labels/production`);
    const resumed = await openStream(server.url, h.adminKey, published.id);
    expect([(await resumed.next()).event, (await resumed.next()).event, (await resumed.next()).event]).toEqual([
      "label.moved", // latest
      "label.moved", // production
      "label.deleted",
    ]);
    resumed.close();
    for (const foreign of ["someone-else.3", "garbage"]) {
      const stream = await openStream(server.url, h.adminKey, foreign);
      const reset = await stream.next();
      expect(reset.event).toBe("reset");
      expect(reset.id).toMatch(/^[\w-]+\.\d+$/);
      stream.close();
    }
    // Any role that reads prompts may subscribe; without a key, 401 in the one error shape.
    const reader = await openStream(server.url, await h.newKey("read"));
    expect(reader.res.status).toBe(200);
    reader.close();
    const anonymous = await fetch(`${server.url}/api/v1/events`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    const tooLong = await openStream(server.url, h.adminKey, "x".repeat(101));
    expect(tooLong.res.status).toBe(422);
  });

  it("a deleted key's streams end at once", async () => {
    const created = (await (await api("POST", "/keys", { name: "doomed-reader", role: "read" })).json()) as {
      id: string;
      key: string;
    };
    const stream = await openStream(server.url, created.key);
    const ended = once(h.events.lifecycle, "closed");
    expect((await api("DELETE", `/keys/${created.id}`)).status).toBe(204);
    expect((await ended)[0]).toBe("ended");
    await expect(stream.next()).rejects.toThrow();
  });
});

describe("live updates, bounded", () => {
  let h: Harness;
  let server: Listener;
  const MAX_BUFFER = 16 * 1024;

  beforeAll(async () => {
    h = await createHarness({ events: { eventsMaxStreams: 3, eventsMaxPerKey: 2, eventsMaxBufferBytes: MAX_BUFFER } });
    server = await serve(h.app);
  });
  afterAll(async () => {
    await server?.close();
    await h?.close();
  });

  it("past the cap of a key, then of the instance: 503 with Retry-After, in the one error shape", async () => {
    const other = await h.newKey("read");
    const open = [await openStream(server.url, h.adminKey), await openStream(server.url, h.adminKey)];
    const third = await openStream(server.url, h.adminKey);
    expect(third.res.status).toBe(503);
    expect(third.res.headers.get("retry-after")).toBe("5");
    expect(((await third.res.json()) as { error: object }).error).toMatchObject({
      code: "unavailable",
      message: expect.stringMatching(/key/),
    });
    open.push(await openStream(server.url, other));
    expect(open.map((s) => s.res.status)).toEqual([200, 200, 200]);
    const fourth = await openStream(server.url, await h.newKey("read"));
    expect(fourth.res.status).toBe(503);
    expect(fourth.res.headers.get("retry-after")).toBe("5");
    expect(((await fourth.res.json()) as { error: { message: string } }).error.message).toMatch(/instance/);
    const closed = closings(h, open.length);
    for (const stream of open) stream.close();
    await closed;
    expect(h.events.size).toBe(0);
  });

  it("a refused stream leaves the client on its TTL, exactly as without it", async () => {
    const admin = (method: string, path: string, body?: unknown) =>
      fetch(`${server.url}/api/v1${path}`, {
        method,
        headers: { Authorization: `Bearer ${h.adminKey}`, "Content-Type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    for (const template of ["one", "two"])
      await admin("POST", `/prompts/${enc("bounded/ttl")}/versions`, { template, labels: ["production"] });
    // The caps are taken: the client's stream is refused.
    const held = [
      await openStream(server.url, h.adminKey),
      await openStream(server.url, h.adminKey),
      await openStream(server.url, await h.newKey("read")),
    ];
    let time = 1_000_000;
    let refused!: () => void;
    const wasRefused = new Promise<void>((resolve) => (refused = resolve));
    const client = createClient({
      baseUrl: server.url,
      apiKey: h.adminKey,
      ttlMs: 60_000,
      now: () => time,
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (String(input).endsWith("/events") && res.status === 503) refused();
        return res;
      },
    });
    try {
      expect(await versionOf(client, "bounded/ttl")).toBe("1.0.1");
      await wasRefused;
      await admin("POST", `/prompts/${enc("bounded/ttl")}/labels/production/rollback`, { reason: "r" });
      expect((await client.get("bounded/ttl")).version).toBe("1.0.1");
      time += 60_000;
      // Past the TTL: served from the cache while one background request revalidates it, as always.
      expect((await client.get("bounded/ttl")).version).toBe("1.0.1");
      await until(async () => (await versionOf(client, "bounded/ttl")) === "1.0.0");
    } finally {
      client.close();
      for (const stream of held) stream.close();
    }
  });

  it("a server without the stream (404) is asked once, reported, and the client goes on with its TTL", async () => {
    const proxy = await listen(
      http.createServer((req, res) => {
        if (req.url === "/api/v1/events") {
          res.writeHead(404, { "Content-Type": "application/json" });
          return res.end(JSON.stringify({ error: { code: "not_found", message: "no route", requestId: "r" } }));
        }
        const upstream = http.request(`${server.url}${req.url}`, { headers: req.headers }, (answer) => {
          res.writeHead(answer.statusCode!, answer.headers);
          answer.pipe(res);
        });
        req.pipe(upstream);
      }),
    );
    let reported!: (error: RegistryError) => void;
    const report = new Promise<RegistryError>((resolve) => (reported = resolve));
    await fetch(`${server.url}/api/v1/prompts/${enc("bounded/old")}/versions`, {
      method: "POST",
      headers: { Authorization: `Bearer ${h.adminKey}`, "Content-Type": "application/json" },
      body: JSON.stringify({ template: "x", labels: ["production"] }),
    });
    const client = createClient({ baseUrl: proxy.url, apiKey: h.adminKey, onError: (e) => reported(e) });
    try {
      expect(await versionOf(client, "bounded/old")).toBe("1.0.0");
      expect(await report).toMatchObject({ status: 404, code: "not_found" });
    } finally {
      client.close();
      await proxy.close();
    }
  });

  it("the server ends a stream once it is older than its maximum age (its client resumes, its key checked again)", async () => {
    // A hub of its own, on the app's bus, with a clock the test moves; served by a plain server.
    let time = 0;
    const hub = createEventHub({
      bus: h.bus,
      logger: silentLogger,
      options: { heartbeatMs: 100, maxStreamMs: 60_000 },
      now: () => time,
    });
    const principal = {
      keyId: "aged-key",
      keyName: "aged",
      role: "read" as const,
      projectId: "aged-project",
      projectName: "aged",
      protectedLabels: [],
    };
    const aged = await listen(http.createServer((_req, res) => hub.open(principal, res, undefined)));
    try {
      const stream = await openStream(aged.url, "unused");
      await stream.idAtLeast(0);
      const ended = once(hub.lifecycle, "closed");
      time = 60_000;
      expect((await ended)[0]).toBe("ended");
      await expect(stream.next()).rejects.toThrow("the stream ended");
    } finally {
      hub.close();
      await aged.close();
    }
  });

  it("a subscriber that never reads is cut once it holds the unsent bytes allowed, and holds no more", async () => {
    const project = await h.database.prisma.project.findUniqueOrThrow({ where: { name: "default" } });
    const slow = net.connect(server.port, "127.0.0.1");
    await once(slow, "connect");
    slow.pause();
    const opened = nextOpened(h);
    slow.write(`GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.adminKey}\r\n\r\n`);
    await opened;
    let cut: [StreamEnd, number] | undefined;
    h.events.lifecycle.once("closed", (why: StreamEnd, buffered: number) => (cut = [why, buffered]));
    // Changes announced through the bus as every write is, each event about 1 KB: until the kernel's buffers are
    // full, then the stream's own.
    const name = `slow/${"x".repeat(1_000)}`;
    let announced = 0;
    while (!cut) {
      await h.bus.write(async (w) => {
        for (let i = 0; i < 200; i++)
          w.record({ kind: "version.published", projectId: project.id, name, version: `1.0.${announced++}` });
      });
    }
    expect(cut[0]).toBe("slow");
    // At most the bound and the one event that found it passed.
    expect(cut[1]).toBeLessThanOrEqual(MAX_BUFFER + 2 * 1024);
    expect(h.events.size).toBe(0);
    slow.destroy();
    const metrics = await fetch(`${server.url}/metrics`, { headers: { Authorization: `Bearer ${h.adminKey}` } });
    const text = await metrics.text();
    expect(text).toContain('promptreg_event_streams_ended_total{reason="slow"} 1');
    expect(text).toContain("promptreg_event_streams 0");
  });
});

describe("live updates past the replay window", () => {
  let h: Harness;
  let server: Listener;

  beforeAll(async () => {
    h = await createHarness({ events: { eventsReplaySize: 2, eventsHeartbeatMs: 100 } });
    server = await serve(h.app);
  });
  afterAll(async () => {
    await server?.close();
    await h?.close();
  });

  it("a gap longer than the window is a reset, and the client refreshes every reference it holds", async () => {
    const publish = (name: string, template: string) =>
      fetch(`${server.url}/api/v1/prompts/${enc(name)}/versions`, {
        method: "POST",
        headers: { Authorization: `Bearer ${h.adminKey}`, "Content-Type": "application/json" },
        body: JSON.stringify({ template, labels: ["production"] }),
      });
    for (const name of ["gap/a", "gap/b"]) expect((await publish(name, "one")).status).toBe(201);
    const proxy = await cuttingProxy(server.url);
    const client = createClient({ baseUrl: proxy.url, apiKey: h.adminKey, ttlMs: HOUR });
    try {
      let opened = nextOpened(h);
      expect(await versionOf(client, "gap/a")).toBe("1.0.0");
      expect(await versionOf(client, "gap/b")).toBe("1.0.0");
      await opened;
      const cut = once(h.events.lifecycle, "closed");
      proxy.cut();
      await cut;
      // Two publishes are four events (the version, latest, production; twice): more than the two kept.
      for (const name of ["gap/a", "gap/b"]) expect((await publish(name, "two")).status).toBe(201);
      opened = nextOpened(h);
      proxy.reopen();
      expect(await opened).toEqual({ resumed: false });
      await until(async () => (await versionOf(client, "gap/a")) === "1.0.1");
      await until(async () => (await versionOf(client, "gap/b")) === "1.0.1");
    } finally {
      client.close();
      await proxy.close();
    }
  });
  it("a quiet project's subscriber resumes exactly although busier projects' events filled the window", async () => {
    const quiet = await openStream(server.url, h.adminKey);
    const subscribedAt = await quiet.idAtLeast(0);
    const start = Number(subscribedAt.slice(subscribedAt.lastIndexOf(".") + 1));
    const busy = await fetch(`${server.url}/api/v1/projects`, {
      method: "POST",
      headers: { Authorization: `Bearer ${h.adminKey}`, "Content-Type": "application/json" },
      body: JSON.stringify({ name: "gap-busy" }),
    });
    const busyKey = ((await busy.json()) as { adminKey: { key: string } }).adminKey.key;
    for (const template of ["one", "two"]) {
      const res = await fetch(`${server.url}/api/v1/prompts/noisy/versions`, {
        method: "POST",
        headers: { Authorization: `Bearer ${busyKey}`, "Content-Type": "application/json" },
        body: JSON.stringify({ template }),
      });
      expect(res.status).toBe(201);
    }
    // Four events of the other project (a version and `latest`, twice): the window keeps two. A heartbeat carries
    // the current id past them.
    const id = await quiet.idAtLeast(start + 4);
    quiet.close();
    const opened = nextOpened(h);
    const resumed = await openStream(server.url, h.adminKey, id);
    expect(await opened).toEqual({ resumed: true });
    resumed.close();
  });
});

describe.skipIf(!TEST_DATABASE_URL)("live updates on two instances of one PostgreSQL database", () => {
  const key = "pr_live_two_instances_admin_key_000";
  let testDb: TestDatabase;
  const instances: {
    app: ReturnType<typeof createApp>;
    database: Database;
    bus: InvalidationBus;
    server: Listener;
  }[] = [];

  beforeAll(async () => {
    testDb = await createTestDatabase();
    for (let i = 0; i < 2; i++) {
      const database = await openDatabase({ url: testDb.url!, poolSize: 4 });
      await database.migrate();
      const bus = await createInvalidationBus(database, silentLogger);
      const app = createApp({
        config: { bodyLimitBytes: 1 << 20, resolveCacheSize: 100 },
        database,
        bus,
        logger: silentLogger,
      });
      await app.auth.bootstrap({ adminKey: key, dataDir: "/nonexistent", logger: silentLogger });
      instances.push({ app, database, bus, server: await serve(app.app) });
    }
  });
  afterAll(async () => {
    for (const i of instances) {
      await i.server.close();
      await i.app.close();
      await i.bus.close();
      await i.database.close();
    }
    await testDb?.drop();
  });

  it("each instance serves its own subscribers a rollback committed on the other", async () => {
    const [a, b] = instances as [(typeof instances)[0], (typeof instances)[0]];
    const call = (on: typeof a, method: string, path: string, body?: unknown) =>
      fetch(`${on.server.url}/api/v1${path}`, {
        method,
        headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    for (const template of ["one", "two"])
      expect((await call(a, "POST", "/prompts/shared/versions", { template, labels: ["production"] })).status).toBe(
        201,
      );
    const clients = [a, b].map((on) => createClient({ baseUrl: on.server.url, apiKey: key, ttlMs: HOUR }));
    try {
      const opened = [a, b].map((on) => once(on.app.events.lifecycle, "opened"));
      for (const client of clients) expect(await versionOf(client, "shared")).toBe("1.0.1");
      await Promise.all(opened);
      // Committed on b this time, heard on a over LISTEN/NOTIFY; and a's subscriber is told by a alone.
      expect((await call(b, "POST", "/prompts/shared/labels/production/rollback", { reason: "r" })).status).toBe(200);
      for (const client of clients) await until(async () => (await versionOf(client, "shared")) === "1.0.0");
    } finally {
      for (const client of clients) client.close();
    }
  });
});

describe("configuration", () => {
  it("reads the stream's limits from the environment, with their defaults, and refuses bad values naming them", () => {
    const defaults = loadConfig({});
    expect([
      defaults.eventsMaxStreams,
      defaults.eventsMaxPerKey,
      defaults.eventsHeartbeatMs,
      defaults.eventsReplaySize,
      defaults.eventsMaxBufferBytes,
    ]).toEqual([
      EVENTS_DEFAULTS.maxStreams,
      EVENTS_DEFAULTS.maxPerKey,
      EVENTS_DEFAULTS.heartbeatMs,
      EVENTS_DEFAULTS.replaySize,
      EVENTS_DEFAULTS.maxBufferBytes,
    ]);
    expect(loadConfig({ PROMPTREG_EVENTS_MAX_STREAMS: "10", PROMPTREG_EVENTS_REPLAY: "0" })).toMatchObject({
      eventsMaxStreams: 10,
      eventsReplaySize: 0,
    });
    const bad = () => loadConfig({ PROMPTREG_EVENTS_HEARTBEAT_MS: "60000", PROMPTREG_EVENTS_MAX_PER_KEY: "-1" });
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(
      /PROMPTREG_EVENTS_HEARTBEAT_MS[\s\S]*PROMPTREG_EVENTS_MAX_PER_KEY|PROMPTREG_EVENTS_MAX_PER_KEY[\s\S]*PROMPTREG_EVENTS_HEARTBEAT_MS/,
    );
  });
});

describe("stopping the server", () => {
  it("open streams do not keep a graceful stop waiting", async () => {
    const key = "pr_live_shutdown_admin_key_00000000";
    const testDb = await createTestDatabase();
    const dataDir = await mkdtemp(path.join(tmpdir(), "promptreg-live-"));
    try {
      const running = await startServer(
        loadConfig({
          PORT: "0",
          LOG_LEVEL: "silent",
          PROMPTREG_ADMIN_KEY: key,
          // Far longer than the test's timeout: only ending the streams lets the stop return.
          PROMPTREG_SHUTDOWN_TIMEOUT_MS: String(HOUR),
          ...(testDb.url ? { DATABASE_URL: testDb.url } : { PROMPTREG_DATA_DIR: dataDir }),
        }),
        silentLogger,
      );
      const stream = await openStream(`http://127.0.0.1:${running.port}`, key);
      expect(stream.res.status).toBe(200);
      await running.stop();
      await expect(stream.next()).rejects.toThrow("the stream ended");
    } finally {
      await rm(dataDir, { recursive: true, force: true });
      await testDb.drop();
    }
  });
});
