// Load shedding at the OTLP receiver, on the test database's own default limits: a flood is refused early (before
// authentication and before the body is read) with 503 and Retry-After, reads keep being answered meanwhile, and
// the refusals are counted in the log at warn instead of one error line each. No timing: held requests and events.
import http from "node:http";
import net from "node:net";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createApp } from "../src/app.js";
import { INGEST_DEFAULTS } from "../src/config.js";
import { createShedLog } from "../src/http/shed-log.js";
import { createHarness, type Harness } from "./helpers/harness.js";
import { capturingLogger } from "./helpers/logs.js";
import { serve } from "./helpers/listen.js";
import { heldOtlpRequest, newTraceId, otlpJson } from "./helpers/otlp.js";

let h: Harness;
let writerKey: string;

beforeAll(async () => {
  h = await createHarness();
  writerKey = await h.newKey("write");
  const publish = await h
    .as(h.adminKey)
    .post("/api/v1/prompts/shed/versions", { template: "Hi {{name}}", labels: ["production"] });
  expect(publish.status).toBe(201);
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

const countSpans = async (traceIds: string[]) => h.database.prisma.span.count({ where: { traceId: { in: traceIds } } });

describe("a flood of OTLP requests", () => {
  it(`on the default limits of this database, beyond in-flight + queued gets 503 at once, before any is processed`, async () => {
    const { logger, lines, logged } = capturingLogger();
    const { app } = createApp({
      config: { bodyLimitBytes: 1 << 20, resolveCacheSize: 100 },
      database: h.database,
      bus: h.bus,
      logger,
    });
    const { server, port, close } = await serve(app);
    try {
      const { maxInFlight, maxQueued } = INGEST_DEFAULTS[h.database.kind];
      const extra = 3;
      const total = maxInFlight + maxQueued + extra;
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
      sockets.forEach((socket, i) => {
        const body = otlpJson([{ traceId: traceIds[i]! }]);
        socket.write(
          `POST /v1/traces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${writerKey}\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      });
      const results = await Promise.all(answers);
      const refused = results.filter((r) => r.status === 503);
      expect(results.filter((r) => r.status === 200)).toHaveLength(maxInFlight + maxQueued);
      expect(refused).toHaveLength(extra);
      for (const r of refused) expect(r.headers).toContain("retry-after: 1");
      expect(await countSpans(traceIds)).toBe(maxInFlight + maxQueued);
      // Counted at warn, not an error line per refusal.
      await logged((l) => l.msg === "request" && l.status === 200, maxInFlight + maxQueued);
      expect(lines.filter((l) => l.level >= 50)).toEqual([]);
      expect(lines.filter((l) => l.level === 40)).toEqual([
        expect.objectContaining({ shed: 1, msg: "the trace receiver is saturated: refusing requests with 503" }),
      ]);
      expect(lines.filter((l) => l.msg === "request" && l.status === 200)).toHaveLength(maxInFlight + maxQueued);
    } finally {
      await close();
    }
  });

  it("is refused before its key is checked and before its body is sent, while reads are answered", async () => {
    const { app } = createApp({
      config: { bodyLimitBytes: 1 << 20, resolveCacheSize: 100, ingestMaxInFlight: 1, ingestMaxQueued: 0 },
      database: h.database,
      bus: h.bus,
      logger: pino({ level: "silent" }),
    });
    const { server, port, close } = await serve(app);
    try {
      const traceId = newTraceId();
      // The handler subscribing to the body's data means it holds the only slot; its body is then kept unfinished.
      const held = heldOtlpRequest(server, writerKey, Buffer.from(otlpJson([{ traceId }])));
      await held.holding;

      // Headers only, with a key that does not exist: the answer comes before the body is sent, and it is the 503,
      // not a 401, so a saturated receiver does no key lookup either.
      const flood = net.connect(port, "127.0.0.1");
      const floodAnswer = answerOf(flood);
      flood.write(
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer pr_no_such_key\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n",
      );
      const sent = await new Promise<{ status: number; headers: string }>((resolve, reject) => {
        flood.once("data", (chunk: string) => {
          const head = String(chunk);
          resolve({ status: Number(head.split(" ")[1]), headers: head.toLowerCase() });
        });
        flood.once("error", reject);
      });
      expect(sent.status).toBe(503);
      expect(sent.headers).toContain("retry-after: 1");
      flood.destroy();
      void floodAnswer.catch(() => {});

      const resolved = await new Promise<number>((resolve, reject) =>
        http
          .get(
            {
              port,
              host: "127.0.0.1",
              path: "/api/v1/prompts/shed/resolve",
              headers: { Authorization: `Bearer ${writerKey}` },
            },
            (res) => {
              res.resume();
              resolve(res.statusCode!);
            },
          )
          .on("error", reject),
      );
      expect(resolved).toBe(200);

      held.finish();
      expect(await held.status).toBe(200);
      expect(await countSpans([traceId])).toBe(1);
    } finally {
      await close();
    }
  });
});

describe("a request that gives up while queued", () => {
  it("hands its slot back: the next request is processed", async () => {
    const { app } = createApp({
      config: { bodyLimitBytes: 1 << 20, resolveCacheSize: 100, ingestMaxInFlight: 1, ingestMaxQueued: 1 },
      database: h.database,
      bus: h.bus,
      logger: pino({ level: "silent" }),
    });
    const { server, port, close } = await serve(app);
    try {
      const post = (traceId: string) => {
        const body = otlpJson([{ traceId }]);
        return `POST /v1/traces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${writerKey}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
      };
      const responses: http.ServerResponse[] = [];
      let onArrival = () => {};
      server.on("request", (_req: http.IncomingMessage, res: http.ServerResponse) => {
        responses.push(res);
        onArrival();
      });
      const arrived = (n: number) =>
        new Promise<void>((resolve) => {
          onArrival = () => responses.length >= n && resolve();
          onArrival();
        });
      // A holds the slot: its body is never finished until the end.
      const holding = new Promise<void>((resolve) =>
        server.once("request", (req: http.IncomingMessage) =>
          req.on("newListener", (event) => event === "data" && resolve()),
        ),
      );
      const a = net.connect(port, "127.0.0.1");
      const aAnswer = answerOf(a);
      const aText = post(newTraceId());
      a.write(aText.slice(0, aText.length - 5));
      await holding;
      // B waits in the queue, then its caller goes away.
      const b = net.connect(port, "127.0.0.1");
      b.on("error", () => {});
      b.write(post(newTraceId()));
      await arrived(2);
      const bClosed = new Promise((resolve) => responses[1]!.once("close", resolve));
      b.destroy();
      await bClosed;
      // A finishes; the slot passes to B, which is gone, and must come back.
      a.write(aText.slice(aText.length - 5));
      expect((await aAnswer).status).toBe(200);
      const traceId = newTraceId();
      const c = net.connect(port, "127.0.0.1");
      const cAnswer = answerOf(c);
      c.write(post(traceId));
      expect((await cAnswer).status).toBe(200);
      expect(await countSpans([traceId])).toBe(1);
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
      expect.objectContaining({ level: 40, shed: 1, msg: "saturated: refusing requests with 503" }),
    ]);
    vi.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ level: 40, shed: 999, msg: "saturated: 999 more request(s) refused with 503" });
    log.record();
    vi.advanceTimersByTime(10_000);
    expect(lines.map((l) => l.shed)).toEqual([1, 999, 1]);
    // A quiet interval: no line, and the next refusal is logged at once again.
    vi.advanceTimersByTime(30_000);
    expect(lines).toHaveLength(3);
    log.record();
    expect(lines.map((l) => l.shed)).toEqual([1, 999, 1, 1]);
    expect(lines[3]!.msg).toBe("saturated: refusing requests with 503");
  });
});
