// The outbound HTTP module against real servers on 127.0.0.1: what it refuses, what it reports as worth retrying,
// and that no answer (a black hole, a flood) can hold or fill it.
import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backoffMs, createOutbound, OutboundError, retryAfterMs } from "../src/outbound/outbound.js";
import { listen, type Listener } from "./helpers/listen.js";

const guarded = createOutbound({ allowPrivate: false, userAgent: "promptreg-test" });
const open = createOutbound({ allowPrivate: true, userAgent: "promptreg-test" });
const limits = { timeoutMs: 10_000, maxResponseBytes: 1024 };

async function failure(p: Promise<unknown>): Promise<OutboundError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OutboundError);
  return err as OutboundError;
}

describe("targets", () => {
  it.each([
    ["http://127.0.0.1:9/", /127\.0\.0\.1 is a loopback address/],
    ["http://[::1]:9/", /::1 is a loopback address/],
    ["http://[::ffff:127.0.0.1]:9/", /loopback/],
    ["http://10.1.2.3/", /private/],
    ["http://192.168.0.1/", /private/],
    ["http://169.254.169.254/latest/meta-data/", /linkLocal/],
    ["http://0.0.0.0:9/", /unspecified/],
    ["http://100.64.0.1/", /carrierGradeNat/],
    ["http://[fd00::1]/", /uniqueLocal/],
    ["http://[64:ff9b::a00:1]/", /rfc6052/],
    ["http://[::7f00:1]:1/", /ipv4Compatible/],
    ["file:///etc/passwd", /file: is not http\(s\)/],
    ["ftp://example.com/", /ftp: is not http\(s\)/],
    ["http://user:pw@example.com/", /credentials in the URL/],
    ["not a url", /not a URL/],
  ])("refuses %s without PROMPTREG_ALLOW_PRIVATE_CONNECTIONS", async (url, reason) => {
    expect(guarded.refusal(url)).toMatch(reason);
    const err = await failure(guarded.request(url, limits));
    expect(err.message).toMatch(reason);
    expect(err.retryable).toBe(false);
  });

  it("checks the address a name resolves to when it connects, not only literal addresses", async () => {
    const server = await listen(http.createServer((_req, res) => res.end("reached")));
    try {
      const url = `http://localhost:${server.port}/`;
      expect(guarded.refusal(url)).toBeUndefined(); // a name: nothing to tell before resolving it
      const err = await failure(guarded.request(url, limits));
      expect(err.message).toMatch(/refused: localhost resolves to .* is a loopback address/);
      expect(err.retryable).toBe(false);
      expect((await open.request(url, limits)).body.toString()).toBe("reached");
    } finally {
      await server.close();
    }
  });

  it("allows public addresses", () => {
    expect(guarded.refusal("https://8.8.8.8/")).toBeUndefined();
    expect(guarded.refusal("https://[2001:4860:4860::8888]/")).toBeUndefined();
    expect(guarded.refusal("https://api.openai.com/v1")).toBeUndefined();
  });
});

describe("answers", () => {
  let server: Listener;
  const hits: string[] = [];
  beforeAll(async () => {
    server = await listen(
      http.createServer((req, res) => {
        hits.push(req.url ?? "");
        const route = new URL(req.url ?? "/", "http://x").pathname;
        if (route === "/ok") {
          let body = "";
          req.on("data", (c) => (body += c));
          req.on("end", () => res.end(JSON.stringify({ method: req.method, body, agent: req.headers["user-agent"] })));
        } else if (route === "/500") res.writeHead(500).end("upstream exploded");
        else if (route === "/429") res.writeHead(429, { "retry-after": "7" }).end();
        else if (route === "/503-date")
          res.writeHead(503, { "retry-after": new Date(Date.now() + 120_000).toUTCString() }).end();
        else if (route === "/404") res.writeHead(404).end("no such model");
        else if (route === "/redirect") res.writeHead(302, { location: "/ok?followed" }).end();
        else if (route === "/flood") {
          res.writeHead(200);
          const chunk = Buffer.alloc(64 * 1024, 97);
          const pump = () => {
            while (res.write(chunk));
          };
          res.on("drain", pump);
          pump();
          res.on("close", () => res.off("drain", pump));
        }
      }),
    );
  });
  afterAll(() => server.close());
  const url = (path: string) => `http://127.0.0.1:${server.port}${path}`;

  it("sends the method, body and User-Agent and returns a 2xx answer", async () => {
    const res = await open.request(url("/ok"), { ...limits, method: "POST", body: '{"a":1}' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({ method: "POST", body: '{"a":1}', agent: "promptreg-test" });
    expect(res.latencyMs).toBeGreaterThan(0);
  });

  it("reports 5xx and 429 as retryable, with the server's Retry-After", async () => {
    const e500 = await failure(open.request(url("/500"), limits));
    expect([e500.retryable, e500.status, e500.retryAfterMs]).toEqual([true, 500, undefined]);
    expect(e500.message).toBe("answered 500: upstream exploded");
    const e429 = await failure(open.request(url("/429"), limits));
    expect([e429.retryable, e429.status, e429.retryAfterMs]).toEqual([true, 429, 7000]);
    const e503 = await failure(open.request(url("/503-date"), limits));
    expect(e503.retryable).toBe(true);
    expect(e503.retryAfterMs).toBeGreaterThan(100_000);
    expect(e503.retryAfterMs).toBeLessThanOrEqual(120_000);
  });

  it("reports other 4xx as final, and does not follow a redirect", async () => {
    const e404 = await failure(open.request(url("/404"), limits));
    expect([e404.retryable, e404.status]).toEqual([false, 404]);
    hits.length = 0;
    const e302 = await failure(open.request(url("/redirect"), limits));
    expect([e302.retryable, e302.status]).toEqual([false, 302]);
    expect(e302.message).toMatch(/redirects are not followed/);
    expect(hits).toEqual(["/redirect"]);
  });

  it("stops reading an answer past maxResponseBytes", async () => {
    const err = await failure(open.request(url("/flood"), limits));
    expect(err.message).toBe("the answer is larger than 1024 bytes");
    expect(err.retryable).toBe(false);
  });

  it("gives up on a server that never answers after timeoutMs, as retryable, and stops when the caller aborts", async () => {
    const sockets = new Set<net.Socket>();
    const hole = await listen(net.createServer((s) => sockets.add(s))); // accepts, reads nothing, says nothing
    try {
      const target = `http://127.0.0.1:${hole.port}/`;
      const timedOut = await failure(open.request(target, { ...limits, timeoutMs: 200 }));
      expect(timedOut.message).toBe("no answer within 200 ms");
      expect(timedOut.retryable).toBe(true);
      const caller = new AbortController();
      const pending = open.request(target, { ...limits, signal: caller.signal });
      caller.abort();
      const cancelled = await failure(pending);
      expect([cancelled.message, cancelled.retryable]).toEqual(["cancelled", false]);
    } finally {
      for (const s of sockets) s.destroy();
      await hole.close();
    }
  });

  it("reports a header value Node cannot send as this call's failure", async () => {
    const err = await failure(open.request(url("/ok"), { ...limits, headers: { "x-wide": "a\u0100b" } }));
    expect(err.message).toMatch(/^the request could not be sent: /);
    expect(err.retryable).toBe(false);
  });

  it("reports a refused connection as retryable", async () => {
    const closed = await listen(http.createServer());
    const port = closed.port;
    await closed.close();
    const err = await failure(open.request(`http://127.0.0.1:${port}/`, limits));
    expect(err.message).toMatch(/^ECONNREFUSED/);
    expect(err.retryable).toBe(true);
  });
});

describe("retry timing", () => {
  it("backs off exponentially with equal jitter, capped, and waits at least as long as Retry-After", () => {
    const low = () => 0;
    const high = () => 1;
    const base = { baseMs: 1000, maxMs: 60_000 };
    expect([1, 2, 3, 4].map((a) => backoffMs(a, { ...base, random: low }))).toEqual([500, 1000, 2000, 4000]);
    expect([1, 2, 3, 4].map((a) => backoffMs(a, { ...base, random: high }))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffMs(30, { ...base, random: high })).toBe(60_000);
    expect(backoffMs(1, { ...base, random: high, retryAfter: 7000 })).toBe(7000);
    expect(backoffMs(5, { ...base, random: high, retryAfter: 7000 })).toBe(16_000);
  });

  it("reads Retry-After as seconds or an HTTP date, capped at an hour", () => {
    const now = Date.parse("2026-12-05T12:00:00Z");
    expect(retryAfterMs("120", now)).toBe(120_000);
    expect(retryAfterMs("Sat, 05 Dec 2026 12:00:30 GMT", now)).toBe(30_000);
    expect(retryAfterMs("Sat, 05 Dec 2026 11:00:00 GMT", now)).toBe(0);
    expect(retryAfterMs("999999", now)).toBe(3_600_000);
    expect(retryAfterMs("soon", now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});
