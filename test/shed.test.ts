// Admission at the OTLP receiver, through the real app on its own server: a key is checked before a request is
// admitted, so a flood without one takes nothing; one key and one project get their share and 429 beyond it, so a
// flood cannot starve another project's exporter; a slow sender holds its own ticket only, and is cut off (408);
// a request that gives up gives its place back; refusals are counted at warn. No timing: held requests and events.
import http from "node:http";
import net from "node:net";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createApp } from "../src/app.js";
import { DEFAULT_INGEST_MAX_PER_KEY, INGEST_DEFAULTS } from "../src/config.js";
import { createShedLog } from "../src/http/shed-log.js";
import { createProject, publishVersion } from "./helpers/factories.js";
import { createHarness, type Harness } from "./helpers/harness.js";
import { capturingLogger } from "./helpers/logs.js";
import { serve } from "./helpers/listen.js";
import { holdSlot } from "./helpers/gate.js";
import { heldOtlpRequest, newTraceId, otlpJson } from "./helpers/otlp.js";

let h: Harness;
let writerKey: string;
let otherProjectKey: string;

beforeAll(async () => {
  h = await createHarness();
  writerKey = await h.newKey("write");
  otherProjectKey = await h.newKey("write", (await createProject(h, "shed-other")).adminKey);
  await publishVersion(h.as(h.adminKey), "shed", { template: "Hi {{name}}", labels: ["production"] });
});
afterAll(() => h?.close());

/** The status line and headers of the answer read from a raw socket, once the server closes it. */
function answerOf(socket: net.Socket): Promise<{ status: number; headers: string }> {
  return new Promise((resolve, reject) => {
    let text = "";
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => (text += d));
    socket.on("error", reject);
    socket.on("end", () => {
      const head = text.slice(0, text.indexOf("\r\n\r\n"));
      resolve({ status: Number(head.split(" ")[1]), headers: head.toLowerCase() });
    });
  });
}

/** The first answer on a socket, as soon as its head arrives (the request's body may still be unsent). */
function headOf(socket: net.Socket): Promise<{ status: number; headers: string }> {
  return new Promise((resolve, reject) => {
    socket.once("data", (chunk: Buffer) => {
      const head = chunk.toString("latin1");
      resolve({ status: Number(head.split(" ")[1]), headers: head.toLowerCase() });
    });
    socket.once("error", reject);
  });
}

const countSpans = async (traceIds: string[]) => h.database.prisma.span.count({ where: { traceId: { in: traceIds } } });

const appWith = (config: Partial<Parameters<typeof createApp>[0]["config"]>, logger = pino({ level: "silent" })) =>
  createApp({
    config: { bodyLimitBytes: 1 << 20, resolveCacheSize: 100, ...config },
    database: h.database,
    bus: h.bus,
    logger,
  });

const post = (key: string, traceId: string) => {
  const body = otlpJson([{ traceId }]);
  return `POST /v1/traces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
};

function postHttp(port: number, key: string, traceId: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = otlpJson([{ traceId }]);
    const req = http.request(
      {
        port,
        host: "127.0.0.1",
        method: "POST",
        path: "/v1/traces",
        headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode!);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("a flood of OTLP requests", () => {
  it("from one key, on this database's default limits: its share is admitted and stored, the rest 429 at once, counted at warn", async () => {
    const { logger, lines, logged } = capturingLogger();
    const { app } = appWith({}, logger);
    const { server, port, close } = await serve(app);
    try {
      const { maxInFlight, maxQueued } = INGEST_DEFAULTS[h.database.kind];
      const share = Math.min(DEFAULT_INGEST_MAX_PER_KEY, Math.floor((maxInFlight + maxQueued) / 2));
      const extra = 3;
      const total = share + extra;
      // The key is known to the cache first, so that checking it never waits on the database.
      expect(await postHttp(port, writerKey, newTraceId())).toBe(200);
      // Every connection is open and accepted before any request is written, then all are written at once: the
      // server finds them all readable together, as in a flood.
      const accepted = new Promise<void>((resolve) => {
        let n = 0;
        server.on("connection", () => ++n === total && resolve());
      });
      const sockets = await Promise.all(
        Array.from(
          { length: total },
          () =>
            new Promise<net.Socket>((resolve) => {
              const s = net.connect(port, "127.0.0.1", () => resolve(s));
            }),
        ),
      );
      await accepted;
      const traceIds = sockets.map(() => newTraceId());
      const answers = sockets.map(answerOf);
      for (const [i, socket] of sockets.entries()) socket.write(post(writerKey, traceIds[i]!));
      const results = await Promise.all(answers);
      const refused = results.filter((r) => r.status === 429);
      expect(results.filter((r) => r.status === 200)).toHaveLength(share);
      expect(refused).toHaveLength(extra);
      for (const r of refused) expect(r.headers).toContain("retry-after: 1");
      expect(await countSpans(traceIds)).toBe(share);
      // Counted at warn, not an error line per refusal.
      await logged((l) => l.msg === "request" && l.status === 200, share + 1);
      expect(lines.filter((l) => l.level >= 50)).toEqual([]);
      expect(lines.filter((l) => l.level === 40)).toEqual([
        expect.objectContaining({ shed: 1, msg: "the trace receiver is saturated: refusing requests with 503 or 429" }),
      ]);
      expect(lines.filter((l) => l.msg === "request" && l.status === 429)).toEqual([]);
    } finally {
      await close();
    }
  });

  it("without a key or with an unknown one is answered 401 before its body is read, taking no ticket from an exporter with a key", async () => {
    // One ticket in all: a single admitted request would take it.
    const { app, ingestGate } = appWith({ ingestMaxInFlight: 1, ingestMaxQueued: 0 });
    const { port, close } = await serve(app);
    try {
      const flood = await Promise.all(
        Array.from({ length: 64 }, async (_, i) => {
          const socket = net.connect(port, "127.0.0.1");
          const head = headOf(socket);
          // Headers only: the body never comes.
          socket.write(
            `POST /v1/traces HTTP/1.1\r\nHost: x\r\n${i % 2 ? "Authorization: Bearer pr_no_such_key\r\n" : ""}Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n`,
          );
          const answer = await head;
          return { socket, answer };
        }),
      );
      expect(flood.map((f) => f.answer.status)).toEqual(Array(64).fill(401));
      expect(ingestGate.tickets).toBe(0);
      // The sockets are still open, their bodies unsent; a real exporter is served.
      const traceId = newTraceId();
      expect(await postHttp(port, writerKey, traceId)).toBe(200);
      expect(await countSpans([traceId])).toBe(1);
      for (const f of flood) f.socket.destroy();
    } finally {
      await close();
    }
  });

  it("from one project leaves another project's exporter its share; one key holds at most maxPerKey", async () => {
    // Four tickets: two per project.
    const { app, ingestGate } = appWith({ ingestMaxInFlight: 1, ingestMaxQueued: 3, ingestMaxPerKey: 1 });
    const { server, port, close } = await serve(app);
    try {
      // The default project floods: its requests are admitted and never finish sending (slow senders).
      const held = [heldOtlpRequest(server, writerKey, Buffer.from(otlpJson([{ traceId: newTraceId() }])))];
      await held[0]!.holding;
      // The key holds its one ticket.
      expect(await postHttp(port, writerKey, newTraceId())).toBe(429);
      held.push(heldOtlpRequest(server, h.adminKey, Buffer.from(otlpJson([{ traceId: newTraceId() }]))));
      await held[1]!.holding;
      // The project holds its two: a third key of it is refused too.
      const thirdKey = await h.newKey("write");
      expect(await postHttp(port, thirdKey, newTraceId())).toBe(429);
      expect(ingestGate.tickets).toBe(2);
      // The other project's exporter is served at once.
      const traceId = newTraceId();
      expect(await postHttp(port, otherProjectKey, traceId)).toBe(200);
      for (const r of held) r.finish();
      expect(await Promise.all(held.map((r) => r.status))).toEqual([200, 200]);
    } finally {
      await close();
    }
  });
});

describe("slow senders", () => {
  it("four of them, on this database's default limits, hold only their own tickets, and each gets 408 past the limit", async () => {
    const { app, ingestGate } = appWith({ otlpBodyTimeoutMs: 300 });
    const { server, port, close } = await serve(app);
    try {
      // Four connections trickling their bodies: before, on PostgreSQL, they held every slot.
      const slow = [];
      for (let i = 0; i < 4; i++) {
        const held = heldOtlpRequest(server, writerKey, Buffer.from(otlpJson([{ traceId: newTraceId() }])));
        await held.holding;
        slow.push(held);
      }
      // Meanwhile an exporter of the same project is served at once.
      const traceId = newTraceId();
      expect(await postHttp(port, h.adminKey, traceId)).toBe(200);
      expect(await countSpans([traceId])).toBe(1);
      expect(await Promise.all(slow.map((s) => s.status))).toEqual([408, 408, 408, 408]);
      expect(ingestGate.tickets).toBe(0);
    } finally {
      await close();
    }
  });
});

describe("a request that gives up while it waits for a slot", () => {
  it("gives its place back: the next request is processed", async () => {
    const { app, ingestGate } = appWith({ ingestMaxInFlight: 1, ingestMaxQueued: 1 });
    const { server, port, close } = await serve(app);
    try {
      // Another project's request holds the only slot.
      const holderTicket = ingestGate.enter("another-project", "another-key");
      const holder = holdSlot(holderTicket);
      await holder.taken;
      const responses: http.ServerResponse[] = [];
      server.on("request", (_req: http.IncomingMessage, res: http.ServerResponse) => responses.push(res));
      // B reads its body and waits for the slot, then its caller goes away.
      const b = net.connect(port, "127.0.0.1");
      b.on("error", () => {});
      b.write(post(writerKey, newTraceId()));
      await vi.waitFor(() => expect(ingestGate.tickets).toBe(2));
      const bClosed = new Promise((resolve) => responses[0]!.once("close", resolve));
      b.destroy();
      await bClosed;
      // Its wait ends, and its handler gives the ticket back.
      await vi.waitFor(() => expect(ingestGate.tickets).toBe(1));
      holder.free();
      await holder.done;
      holderTicket.release();
      expect(ingestGate.inFlight).toBe(0);
      const traceId = newTraceId();
      const c = net.connect(port, "127.0.0.1");
      const cAnswer = answerOf(c);
      c.write(post(writerKey, traceId));
      expect((await cAnswer).status).toBe(200);
      expect(await countSpans([traceId])).toBe(1);
    } finally {
      await close();
    }
  });
});

describe("a caller that goes away", () => {
  it("while its key is looked up gives its ticket back", async () => {
    const { app, ingestGate } = appWith({});
    const { port, close } = await serve(app);
    try {
      // Keys the cache has not seen: each request waits on the database before it is admitted.
      const keys = await Promise.all(Array.from({ length: 12 }, () => h.newKey("write")));
      await Promise.all(
        keys.map(
          (key) =>
            new Promise<void>((resolve) => {
              const socket = net.connect(port, "127.0.0.1", () => {
                socket.write(post(key, newTraceId()));
                socket.destroy();
                resolve();
              });
              socket.on("error", () => {});
            }),
        ),
      );
      await vi.waitFor(() => expect(ingestGate.tickets).toBe(0));
      const traceId = newTraceId();
      expect(await postHttp(port, writerKey, traceId)).toBe(200);
      expect(ingestGate.tickets).toBe(0);
    } finally {
      await close();
    }
  });

  it("while its batch is stored: it stops at the next chunk, counted until then, and the exporter's resend stores the rest", async () => {
    const { app, ingestGate } = appWith({});
    const { port, close } = await serve(app);
    try {
      const traceId = newTraceId();
      const spans = 20 * INGEST_DEFAULTS[h.database.kind].chunkRows;
      const body = otlpJson(Array.from({ length: spans }, () => ({ traceId })));
      const socket = net.connect(port, "127.0.0.1");
      socket.on("error", () => {});
      socket.write(
        `POST /v1/traces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${writerKey}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      await vi.waitFor(async () => expect(await countSpans([traceId])).toBeGreaterThan(0), { timeout: 30_000 });
      socket.destroy();
      // The chunk under way finishes, and the ticket stays counted until it has.
      expect(ingestGate.tickets).toBe(1);
      await vi.waitFor(() => expect(ingestGate.tickets).toBe(0), { timeout: 30_000 });
      const stored = await countSpans([traceId]);
      expect(stored).toBeLessThan(spans);
      // An exporter that got no answer sends the batch again: the spans stored are skipped, the rest stored.
      const resent = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
        method: "POST",
        headers: { Authorization: `Bearer ${writerKey}`, "Content-Type": "application/json" },
        body,
      });
      expect(resent.status).toBe(200);
      expect(await countSpans([traceId])).toBe(spans);
    } finally {
      await close();
    }
  });
});

describe("a large batch", () => {
  it("is stored a slot per chunk: another project's request is served before it ends", async () => {
    const { app } = appWith({});
    const { port, close } = await serve(app);
    try {
      const traceId = newTraceId();
      const spans = 20 * INGEST_DEFAULTS[h.database.kind].chunkRows;
      const big = (async () => {
        const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
          method: "POST",
          headers: { Authorization: `Bearer ${writerKey}`, "Content-Type": "application/json" },
          body: otlpJson(Array.from({ length: spans }, () => ({ traceId }))),
        });
        return res.status;
      })();
      await vi.waitFor(async () => expect(await countSpans([traceId])).toBeGreaterThan(0), { timeout: 30_000 });
      const small = newTraceId();
      expect(await postHttp(port, otherProjectKey, small)).toBe(200);
      // Served while the batch was still being stored.
      expect(await countSpans([traceId])).toBeLessThan(spans);
      expect(await big).toBe(200);
      expect(await countSpans([traceId])).toBe(spans);
    } finally {
      await close();
    }
  });
});

describe("the shed log", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("logs the first refusal at once, then at most one line per interval with the count, and nothing when quiet", () => {
    vi.useFakeTimers();
    const { logger, lines } = capturingLogger();
    const log = createShedLog(logger, "saturated", 10_000);
    for (let i = 0; i < 1000; i++) log.record();
    expect(lines).toEqual([
      expect.objectContaining({ level: 40, shed: 1, msg: "saturated: refusing requests with 503 or 429" }),
    ]);
    vi.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({
      level: 40,
      shed: 999,
      msg: "saturated: 999 more request(s) refused with 503 or 429",
    });
    log.record();
    vi.advanceTimersByTime(10_000);
    expect(lines.map((l) => l.shed)).toEqual([1, 999, 1]);
    // A quiet interval: no line, and the next refusal is logged at once again.
    vi.advanceTimersByTime(30_000);
    expect(lines).toHaveLength(3);
    log.record();
    expect(lines.map((l) => l.shed)).toEqual([1, 999, 1, 1]);
    expect(lines[3]!.msg).toBe("saturated: refusing requests with 503 or 429");
  });
});
