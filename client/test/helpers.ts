// The real registry on a real port, plus the small instruments the client tests need: a fetch that records what the
// client sends, servers that misbehave in controlled ways, the client's clock moved by the test, and counts and
// errors a test waits on as they happen.
import http from "node:http";
import net from "node:net";
import { expect } from "vitest";
import { createHarness, type Harness } from "../../test/helpers/harness.js";
import { listen, type Listener } from "../../test/helpers/listen.js";
import { RegistryError } from "../src/index.js";

export interface Registry {
  harness: Harness;
  baseUrl: string;
  /** Calls the registry's API with the admin key; throws on an unexpected status. */
  api(method: string, path: string, body?: unknown, expected?: number): Promise<any>;
  /** Publishes a version (the prompt is created on the first one) and returns its semver string. */
  publish(name: string, template: unknown, labels?: string[]): Promise<string>;
  /** Another listener of the same app, to stop without stopping the rest of the suite. */
  listenAgain(): Promise<Listener>;
  close(): Promise<void>;
}

export const enc = encodeURIComponent;

export async function startRegistry(): Promise<Registry> {
  const harness = await createHarness();
  const main = await listen(http.createServer(harness.app));
  const listeners = [main];
  const registry: Registry = {
    harness,
    baseUrl: main.url,
    async api(method, path, body, expected) {
      const res = await fetch(`${main.url}/api/v1${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${harness.adminKey}`,
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (expected !== undefined ? res.status !== expected : res.status >= 300) {
        throw new Error(`${method} ${path}: ${res.status} ${text}`);
      }
      return text ? JSON.parse(text) : undefined;
    },
    async publish(name, template, labels) {
      const version = await registry.api("POST", `/prompts/${enc(name)}/versions`, {
        template,
        ...(labels ? { labels } : {}),
      });
      return version.version as string;
    },
    async listenAgain() {
      const listener = await listen(http.createServer(harness.app));
      listeners.push(listener);
      return listener;
    },
    async close() {
      await Promise.all(listeners.map((l) => l.close()));
      await harness.close();
    },
  };
  return registry;
}

export interface Call {
  url: string;
  ifNoneMatch: string | null;
  status?: number;
}

/**
 * A fetch that records each request and its status. With `hold`, an answer is handed over only once the promise it
 * returns settles: the test decides when a request ends, without timing it.
 */
export function recordingFetch(options: { hold?: () => Promise<void> | undefined } = {}) {
  const calls: Call[] = [];
  const fetchFn: typeof fetch = async (input, init) => {
    const call: Call = { url: String(input), ifNoneMatch: new Headers(init?.headers).get("if-none-match") };
    calls.push(call);
    const res = await fetch(input, init);
    await options.hold?.();
    call.status = res.status;
    return res;
  };
  return { fetch: fetchFn, calls };
}

/** Accepts TCP connections and never answers. */
export function startBlackHole(): Promise<Listener> {
  return listen(net.createServer(() => {}));
}

/**
 * A server that answers each request with the next scripted response, then proxies to `target` once the script is
 * spent. `hits` counts every request.
 */
export async function startScripted(
  target: string,
  script: { status: number; headers?: Record<string, string>; body?: unknown }[],
): Promise<Listener & { hits: () => number }> {
  let hits = 0;
  const server = http.createServer(async (req, res) => {
    const step = script[hits++];
    if (step) {
      res.writeHead(step.status, { "Content-Type": "application/json", ...step.headers });
      res.end(step.body === undefined ? "" : JSON.stringify(step.body));
      return;
    }
    await forward(target, req, res);
  });
  const listener = await listen(server);
  return { ...listener, hits: () => hits };
}

/** Passes a GET on to `target` with the headers the client sends, and its answer back with those the client reads. */
export async function forward(target: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const headers: Record<string, string> = {};
  for (const name of ["authorization", "if-none-match", "accept"]) {
    const value = req.headers[name];
    if (typeof value === "string") headers[name] = value;
  }
  const upstream = await fetch(`${target}${req.url}`, { headers });
  const answer: Record<string, string> = {};
  for (const name of ["content-type", "etag", "x-request-id", "x-promptreg-project"]) {
    const value = upstream.headers.get(name);
    if (value !== null) answer[name] = value;
  }
  res.writeHead(upstream.status, answer);
  res.end(Buffer.from(await upstream.arrayBuffer()));
}

/** The client's clock, moved by the test: no test waits for a TTL or a backoff to pass. */
export function manualClock(start = Date.parse("2026-03-01T09:00:00Z")) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** A count the test can wait on: `reached(n)` settles once it is n or more, so a test waits for the event itself. */
export function counter() {
  let value = 0;
  const waiters = new Set<{ n: number; resolve: () => void }>();
  return {
    value: () => value,
    add() {
      value++;
      for (const waiter of waiters) {
        if (value < waiter.n) continue;
        waiters.delete(waiter);
        waiter.resolve();
      }
    },
    reached(n: number): Promise<void> {
      if (value >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.add({ n, resolve }));
    },
  };
}

/**
 * `onError` as events: `next()` resolves with the next error reported after it is called, `reached(n)` once n have
 * been reported in all. Background failures are waited for as they come.
 */
export function reportedErrors() {
  const errors: RegistryError[] = [];
  const count = counter();
  return {
    errors,
    onError(error: RegistryError) {
      errors.push(error);
      count.add();
    },
    next(): Promise<RegistryError> {
      const index = errors.length;
      return count.reached(index + 1).then(() => errors[index]!);
    },
    reached: count.reached,
  };
}

/** The RegistryError `promise` rejects with; fails the test when it resolves or rejects with anything else. */
export async function caught(promise: Promise<unknown>): Promise<RegistryError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RegistryError);
  return err as RegistryError;
}
