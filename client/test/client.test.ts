// The client against the real registry on a real port: caching, revalidation, fallbacks, retries, errors, snapshots
// and rendering parity with the server. No mocks: misbehaving servers are small real servers.
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { context, type Span } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { InMemorySpanExporter, SimpleSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { SemanticConventions as S } from "@arizeai/openinference-semantic-conventions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../src/commands.js";
import { parseRetryAfter } from "../src/http.js";
import {
  createClient,
  createPromptSpanProcessor,
  pullSnapshot,
  type RegistryError,
  type ClientOptions,
} from "../src/index.js";
import { RenderError } from "../src/render.js";
import { readSnapshotFile } from "../src/snapshot-file.js";
import {
  caught,
  enc,
  manualClock,
  recordingFetch,
  reportedErrors,
  startBlackHole,
  startRegistry,
  startScripted,
  type Registry,
} from "./helpers.js";

let registry: Registry;
let dir: string;

beforeAll(async () => {
  [registry, dir] = await Promise.all([startRegistry(), mkdtemp(path.join(tmpdir(), "promptreg-client-"))]);
});
afterAll(async () => {
  await registry?.close();
  await rm(dir, { recursive: true, force: true });
});

// Without live updates: the requests counted here are the cache's own (the stream's are test/live.test.ts's).
const client = (options: Partial<ClientOptions> = {}) =>
  createClient({ baseUrl: registry.baseUrl, apiKey: registry.harness.adminKey, live: false, ...options });

describe("cache", () => {
  it("makes one request for concurrent cold gets, then serves fresh hits from memory as a new object per call", async () => {
    await registry.publish("cache/fresh", "Hello {{who}}", ["production"]);
    const rec = recordingFetch();
    const c = client({ fetch: rec.fetch });
    const [first] = await Promise.all([c.get("cache/fresh"), c.get("cache/fresh"), c.get("cache/fresh")]);
    const second = await c.get("cache/fresh", { label: "production" });
    expect(first.source).toBe("network");
    expect(second.source).toBe("cache");
    expect(second).not.toBe(first);
    expect(second.render({ who: "you" })).toBe("Hello you");
    expect(rec.calls.map((call) => call.url)).toEqual([
      `${registry.baseUrl}/api/v1/prompts/cache%2Ffresh/resolve?ref=production`,
    ]);
  });

  it("returns an expired hit at once and revalidates it with one background request (If-None-Match, 304)", async () => {
    await registry.publish("cache/stale", "Stale {{x}}", ["production"]);
    let held: Promise<void> | undefined;
    let release = () => {};
    const rec = recordingFetch({ hold: () => held });
    const clock = manualClock();
    const c = client({ fetch: rec.fetch, ttlMs: 100, now: clock.now });
    const first = await c.get("cache/stale");
    clock.advance(150);
    held = new Promise((resolve) => (release = resolve));
    // Answered while the revalidation cannot end: none of them waits for it.
    const expired = await Promise.all(Array.from({ length: 5 }, () => c.get("cache/stale")));
    // The registry answers: served from memory while it is asked, so `cache`, not `stale`.
    expect(expired.map((p) => p.source)).toEqual(Array(5).fill("cache"));
    expect(rec.calls).toHaveLength(2);
    release();
    // Shares the revalidation still running, so this waits for it without a request of its own.
    await c.preload(["cache/stale"]);
    expect(rec.calls).toHaveLength(2);
    expect(rec.calls[1]).toMatchObject({ status: 304, ifNoneMatch: expect.stringMatching(/^".+"$/) });
    const renewed = await c.get("cache/stale");
    expect(renewed.source).toBe("cache");
    expect(renewed.contentHash).toBe(first.contentHash);
    expect(rec.calls).toHaveLength(2);
  });

  it("sees a label moved on the server after the TTL plus one call", async () => {
    const v1 = await registry.publish("cache/moved", "one {{x}}", ["production"]);
    const clock = manualClock();
    const c = client({ ttlMs: 100, now: clock.now });
    expect((await c.get("cache/moved")).version).toBe(v1);
    const v2 = await registry.publish("cache/moved", "two {{x}}", ["production"]);
    expect(v2).not.toBe(v1);
    expect((await c.get("cache/moved")).version).toBe(v1);
    clock.advance(150);
    const expired = await c.get("cache/moved");
    expect([expired.source, expired.version]).toEqual(["cache", v1]);
    // The refresh that call started is still in flight (it needs the network): preload shares it, so this waits
    // for exactly that refresh.
    await c.preload(["cache/moved"]);
    const moved = await c.get("cache/moved");
    expect([moved.source, moved.version, moved.template]).toEqual(["cache", v2, "two {{x}}"]);
  });

  it("evicts a label deleted on the server once the refresh gets 404: the next get throws, even with a fallback", async () => {
    await registry.publish("cache/deleted", "beta {{x}}", ["beta"]);
    const reported = reportedErrors();
    const clock = manualClock();
    const c = client({ ttlMs: 100, now: clock.now, onError: reported.onError });
    expect((await c.get("cache/deleted", { label: "beta" })).source).toBe("network");
    await registry.api("DELETE", `/prompts/${enc("cache/deleted")}/labels/beta`, undefined, 204);
    clock.advance(150);
    const refused = reported.next();
    expect((await c.get("cache/deleted", { label: "beta" })).source).toBe("cache");
    expect(await refused).toMatchObject({ status: 404, code: "not_found" });
    expect(reported.errors).toHaveLength(1);
    const err = await caught(c.get("cache/deleted", { label: "beta", fallback: "fallback {{x}}" }));
    expect(err).toMatchObject({ status: 404, code: "not_found" });
  });

  it("invalidates one exact key (foo, never foobar), or every reference of exactly one name", async () => {
    await registry.publish("inv/foo", "foo {{x}}", ["production", "staging"]);
    await registry.publish("inv/foobar", "foobar {{x}}", ["production"]);
    const rec = recordingFetch();
    const c = client({ fetch: rec.fetch });
    await Promise.all([c.get("inv/foo"), c.get("inv/foo", { label: "staging" }), c.get("inv/foobar")]);
    expect(rec.calls).toHaveLength(3);

    c.invalidate("inv/foo", { label: "production" });
    expect((await c.get("inv/foobar")).source).toBe("cache");
    expect((await c.get("inv/foo", { label: "staging" })).source).toBe("cache");
    expect(rec.calls).toHaveLength(3);
    const again = await c.get("inv/foo");
    expect(again.source).toBe("network");
    expect(rec.calls[3]).toMatchObject({
      url: expect.stringContaining("/inv%2Ffoo/resolve?ref=production"),
      status: 304,
    });
    expect(rec.calls[3]!.ifNoneMatch).toBeTruthy();
    expect((await c.get("inv/foo")).source).toBe("cache");

    c.invalidate("inv/foo");
    expect((await c.get("inv/foobar")).source).toBe("cache");
    expect((await c.get("inv/foo", { label: "staging" })).source).toBe("network");
    expect((await c.get("inv/foo")).source).toBe("network");
    expect(rec.calls).toHaveLength(6);
  });

  it("never refetches an exact version, while a range expires with the TTL", async () => {
    const v = await registry.publish("cache/exact", "exact {{x}}");
    const rec = recordingFetch();
    const clock = manualClock();
    const c = client({ fetch: rec.fetch, ttlMs: 50, now: clock.now });
    expect((await c.get("cache/exact", { version: v })).source).toBe("network");
    expect((await c.get("cache/exact", { version: "^1" })).source).toBe("network");
    clock.advance(100);
    const again = await c.get("cache/exact", { version: v });
    expect([again.source, again.version]).toEqual(["cache", v]);
    expect((await c.get("cache/exact", { version: `v${v}` })).source).toBe("cache");
    expect((await c.get("cache/exact", { version: "^1" })).source).toBe("cache");
    // Joins the range's refresh, still in flight.
    await c.preload([{ name: "cache/exact", version: "^1" }]);
    expect(rec.calls).toHaveLength(3);
    expect(rec.calls.filter((call) => call.url.endsWith(`ref=${v}`))).toHaveLength(1);
  });

  it("keeps at most versionCacheSize exact versions and refCacheSize references, least recently used out first", async () => {
    const v1 = await registry.publish("cache/lru", "one {{x}}", ["production"]);
    const v2 = await registry.publish("cache/lru", "two {{x}}", ["staging"]);
    const v3 = await registry.publish("cache/lru", "three {{x}}");
    const c = client({ versionCacheSize: 2, refCacheSize: 1 });
    const source = async (selector: { version?: string; label?: string }) =>
      (await c.get("cache/lru", selector)).source;
    expect([await source({ version: v1 }), await source({ version: v2 }), await source({ version: v1 })]).toEqual([
      "network",
      "network",
      "cache",
    ]);
    expect(await source({ version: v3 })).toBe("network");
    expect([await source({ version: v1 }), await source({ version: v2 })]).toEqual(["cache", "network"]);
    expect([await source({}), await source({ label: "staging" }), await source({})]).toEqual([
      "network",
      "network",
      "network",
    ]);
  });
});

describe("when the registry cannot be reached", () => {
  it("falls back to the last good value, then a snapshot, then the inline fallback, each with its source", async () => {
    const name = "down/triage";
    const template = [
      { role: "system", content: "You triage for {{product}}." },
      { role: "user", content: "{{question}}" },
    ];
    const version = await registry.publish(name, template, ["production"]);
    const listener = await registry.listenAgain();
    const apiKey = registry.harness.adminKey;
    const reported = reportedErrors();
    const options = { baseUrl: listener.url, apiKey, retryBaseDelayMs: 1 };
    const rec = recordingFetch();
    const clock = manualClock();
    const warm = createClient({ ...options, fetch: rec.fetch, ttlMs: 100, now: clock.now, onError: reported.onError });
    await warm.get(name);
    const snapshot = await pullSnapshot({ baseUrl: listener.url, apiKey, refs: [name] });
    await listener.close();

    clock.advance(150);
    const refreshFailed = reported.next();
    // Nothing has failed yet: expired and being revalidated, the value is still `cache`.
    const expired = await warm.get(name);
    expect([expired.source, expired.version]).toEqual(["cache", version]);
    expect((await refreshFailed).code).toBe("network_error");
    const stale = await warm.get(name);
    expect([stale.source, stale.version]).toEqual(["stale", version]);
    warm.invalidate(name);
    const invalidated = await warm.get(name);
    expect([invalidated.source, invalidated.version]).toEqual(["stale", version]);
    const calls = rec.calls.length;
    expect((await warm.get(name)).source).toBe("stale");
    expect(rec.calls).toHaveLength(calls);

    const fromSnapshot = await createClient({ ...options, snapshot }).get(name);
    expect([fromSnapshot.source, fromSnapshot.version, fromSnapshot.label]).toEqual([
      "snapshot",
      version,
      "production",
    ]);
    expect(fromSnapshot.render({ product: "P", question: "Q?" })).toEqual([
      { role: "system", content: "You triage for P." },
      { role: "user", content: "Q?" },
    ]);

    const bare = createClient(options);
    const fallback = await bare.get(name, {
      fallback: { template: [{ role: "user", content: "Help with {{question}}" }], config: { model: "m" } },
    });
    expect(fallback).toMatchObject({
      source: "fallback",
      version: "fallback",
      label: "production",
      type: "chat",
      config: { model: "m" },
    });
    expect(fallback.render({ question: "billing" })).toEqual([{ role: "user", content: "Help with billing" }]);
    expect(fallback.link()).toMatchObject({
      name,
      version: "fallback",
      source: "fallback",
      variables: { question: "billing" },
    });
    expect(fallback.link().url).toBeUndefined();
    expect((await bare.get(name, { version: "3.1.4", fallback: "" })).version).toBe("3.1.4");

    const err = await caught(bare.get(name));
    expect(err).toMatchObject({ status: 0, code: "unavailable" });
    expect(err.cause).toMatchObject({ code: "network_error" });
  });

  it("does not let a black-holed server block get beyond the cold budget", async () => {
    const hole = await startBlackHole();
    try {
      // Nothing but the budget can end these calls before the test's own timeout: the request itself would wait
      // ten minutes. So each ending is the budget's (its error says so), whatever a busy machine adds to the 300 ms.
      const c = createClient({ baseUrl: hole.url, apiKey: "pr_key", coldBudgetMs: 300, requestTimeoutMs: 600_000 });
      const prompt = await c.get("any/name", { fallback: "Hi {{x}}" });
      expect(prompt.source).toBe("fallback");
      expect(prompt.render({ x: "there" })).toBe("Hi there");

      const err = await caught(c.get("other/name"));
      expect(err.code).toBe("unavailable");
      expect(err.cause).toMatchObject({ code: "timeout", message: "no answer within coldBudgetMs (300 ms)" });
    } finally {
      await hole.close();
    }
  });
});

describe("retries and errors", () => {
  const errorBody = (status: number, code: string) => ({
    error: { code, message: `scripted ${status}`, requestId: `req-${status}` },
  });

  it("retries a 503 after the Retry-After it was given, in seconds", async () => {
    await registry.publish("retry/a", "retried {{x}}", ["production"]);
    const proxy = await startScripted(registry.baseUrl, [
      { status: 503, headers: { "Retry-After": "1" }, body: errorBody(503, "unavailable") },
    ]);
    try {
      const c = createClient({
        baseUrl: proxy.url,
        apiKey: registry.harness.adminKey,
        retryBaseDelayMs: 1,
        coldBudgetMs: 5_000,
      });
      const start = performance.now();
      const prompt = await c.get("retry/a");
      expect(performance.now() - start).toBeGreaterThanOrEqual(950);
      expect([prompt.source, prompt.template]).toEqual(["network", "retried {{x}}"]);
      expect(proxy.hits()).toBe(2);
    } finally {
      await proxy.close();
    }
  });

  it("takes Retry-After: 0 over its own (long) backoff", async () => {
    await registry.publish("retry/b", "retried {{x}}", ["production"]);
    const proxy = await startScripted(registry.baseUrl, [
      { status: 503, headers: { "Retry-After": "0" }, body: errorBody(503, "unavailable") },
      { status: 429, headers: { "Retry-After": "0" }, body: errorBody(429, "rate_limited") },
    ]);
    try {
      // Its own backoff would wait ten minutes before the first retry (and the budget allows it), far past the test's
      // timeout: the call can only end in time by taking Retry-After: 0, whatever a busy machine adds.
      const c = createClient({
        baseUrl: proxy.url,
        apiKey: registry.harness.adminKey,
        retryBaseDelayMs: 20 * 60_000,
        coldBudgetMs: 60 * 60_000,
      });
      expect((await c.get("retry/b")).source).toBe("network");
      expect(proxy.hits()).toBe(3);
    } finally {
      await proxy.close();
    }
  });

  it("gives up after maxRetries, and never waits past the budget", async () => {
    const failing = { status: 503, headers: { "Retry-After": "0" }, body: errorBody(503, "unavailable") };
    const proxy = await startScripted(registry.baseUrl, [failing, failing, failing, failing]);
    const slow = await startScripted(registry.baseUrl, [{ ...failing, headers: { "Retry-After": "1" } }]);
    try {
      const c = createClient({ baseUrl: proxy.url, apiKey: registry.harness.adminKey, maxRetries: 2 });
      const err = await caught(c.get("retry/c"));
      expect(err.code).toBe("unavailable");
      expect(err.cause).toMatchObject({ status: 503, code: "unavailable", requestId: "req-503" });
      expect(proxy.hits()).toBe(3);

      const budgeted = createClient({ baseUrl: slow.url, apiKey: registry.harness.adminKey, coldBudgetMs: 500 });
      // A retry after 1 s would start past the 500 ms budget: the request ends on the 503 at once (the failure is the
      // server's answer, not the budget running out), so no retry can follow, not even in the background.
      const gaveUp = await caught(budgeted.get("retry/c"));
      expect(gaveUp.cause).toMatchObject({ status: 503, code: "unavailable" });
      expect(slow.hits()).toBe(1);
      expect((await budgeted.get("retry/c", { fallback: "f" })).source).toBe("fallback");
      expect(slow.hits()).toBe(1);
    } finally {
      await Promise.all([proxy.close(), slow.close()]);
    }
  });

  it("does not retry a 404, and throws it with the server's code, message and request id", async () => {
    const proxy = await startScripted(registry.baseUrl, [{ status: 404, body: errorBody(404, "not_found") }]);
    try {
      const c = createClient({ baseUrl: proxy.url, apiKey: registry.harness.adminKey });
      const err = await caught(c.get("retry/d", { fallback: "unused" }));
      expect(err).toMatchObject({ status: 404, code: "not_found", message: "scripted 404", requestId: "req-404" });
      expect(proxy.hits()).toBe(1);
    } finally {
      await proxy.close();
    }
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    expect(parseRetryAfter("3")).toBe(3_000);
    expect(parseRetryAfter(new Date(Date.now() - 60_000).toUTCString())).toBe(0);
    expect(parseRetryAfter(new Date(Date.now() + 60_000).toUTCString())).toBeGreaterThan(58_000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });

  it("throws the registry's own errors as RegistryError with status, code, message and request id", async () => {
    await registry.publish("errors/known", "known {{x}}", ["production"]);
    const unauthorized = await caught(
      createClient({ baseUrl: registry.baseUrl, apiKey: "pr_wrong_key" }).get("errors/known"),
    );
    expect(unauthorized).toMatchObject({ name: "RegistryError", status: 401, code: "unauthorized" });
    expect(unauthorized.requestId).toEqual(expect.any(String));

    const c = client();
    const missing = await caught(c.get("errors/unknown"));
    expect(missing).toMatchObject({
      status: 404,
      code: "not_found",
      message: expect.stringContaining("errors/unknown"),
    });
    const noLabel = await caught(c.get("errors/known", { label: "nope" }));
    expect(noLabel).toMatchObject({ status: 404, message: expect.stringContaining("nope") });
    const invalid = await caught(c.get("errors/known", { version: ">>> nonsense" }));
    expect(invalid).toMatchObject({ status: 422, code: "validation_error" });
    await expect(c.get("errors/known", { label: "production", version: "1.0.0" })).rejects.toThrow(TypeError);
  });
});

describe("preload", () => {
  it("warms the cache, and with failOnError rejects naming every reference that failed", async () => {
    const va = await registry.publish("pre/a", "a {{x}}", ["production"]);
    await registry.publish("pre/b", "b {{x}}", ["staging"]);
    const rec = recordingFetch();
    const errors: RegistryError[] = [];
    const c = client({ fetch: rec.fetch, onError: (e) => errors.push(e) });
    const result = await c.preload(["pre/a", "pre/b:staging", { name: "pre/a", version: va }]);
    expect(result).toEqual({ loaded: ["pre/a:production", "pre/b:staging", `pre/a:${va}`], failed: [] });
    expect(rec.calls).toHaveLength(3);
    const sources = await Promise.all([
      c.get("pre/a"),
      c.get("pre/b", { label: "staging" }),
      c.get("pre/a", { version: va }),
    ]);
    expect(sources.map((p) => p.source)).toEqual(["cache", "cache", "cache"]);
    expect(rec.calls).toHaveLength(3);

    const err = await caught(c.preload(["pre/a", "pre/missing", "pre/b:nolabel"], { failOnError: true }));
    expect(err.code).toBe("preload_failed");
    expect(err.message).toContain("2 of 3");
    expect(err.message).toMatch(/pre\/missing:production \(404 not_found.*pre\/b:nolabel \(404 not_found/);

    const lenient = await c.preload(["pre/missing"]);
    expect(lenient.failed.map((f) => [f.ref, f.error.status])).toEqual([["pre/missing:production", 404]]);
    expect(errors.map((e) => e.status)).toEqual([404]);
  });
});

describe("rendering and linking", () => {
  it("renders a text and a chat prompt exactly as the server does", async () => {
    const text =
      "Dear {{user.name}} & co <{{company}}>:\n{{#each items}}- {{this.title}} #{{@index}} of {{../company}}\n{{/each}}" +
      "{{#if note}}Note: {{note}}{{/if}}{{#unless missing}} (none){{/unless}}";
    const textValues = {
      user: { name: "A & B <c>" },
      company: "<ACME & Sons>",
      items: [{ title: "x & y" }, { title: "<z> \"q\" 'r'" }],
      note: "{{not a tag}} &amp;",
    };
    await registry.publish("render/text", text, ["production"]);
    const prompt = await client().get("render/text");
    const rendered = prompt.render(textValues);
    const server = await registry.api("POST", `/prompts/${enc("render/text")}/render`, { variables: textValues });
    expect(rendered).toBe(server.text);
    expect(rendered).toContain("Dear A & B <c> & co <<ACME & Sons>>");

    const chat = [
      { role: "system", content: "You work for {{company.name}} & {{company.legal}}." },
      { type: "placeholder", name: "history" },
      { role: "user", content: '{{#each questions}}<q n="{{@index}}">{{this}}</q>{{/each}}' },
    ];
    const chatValues = {
      company: { name: "<b>Bold</b>", legal: "A&B" },
      history: [
        { role: "user", content: "{{company.name}}" },
        { role: "assistant", content: "<ok> & done" },
      ],
      questions: ["a & b", "<c>"],
    };
    await registry.publish("render/chat", chat, ["production"]);
    const chatPrompt = await client().get("render/chat");
    const messages = chatPrompt.render(chatValues);
    const serverChat = await registry.api("POST", `/prompts/${enc("render/chat")}/render`, { variables: chatValues });
    expect(messages).toEqual(serverChat.messages);
    expect(messages[1]).toEqual({ role: "user", content: "{{company.name}}" });
    expect(() => chatPrompt.render({})).toThrow(RenderError);
  });

  it("links spans started inside trace() to the version, with the last render's variables, fallbacks included", async () => {
    const version = await registry.publish("link/a", "Link {{x}}", ["production"]);
    const prompt = await client().get("link/a", { sessionId: "s-1", userId: "u-1" });
    prompt.render({ x: "one" });
    const url = `${registry.baseUrl}/api/v1/prompts/link%2Fa/versions/${version}`;
    expect(prompt.url).toBe(url);
    expect(prompt.link()).toMatchObject({
      name: "link/a",
      version,
      label: "production",
      source: "network",
      variables: { x: "one" },
      sessionId: "s-1",
      userId: "u-1",
    });
    expect(await registry.api("GET", `/prompts/link%2Fa/versions/${version}`)).toMatchObject({
      contentHash: prompt.contentHash,
    });

    const exporter = new InMemorySpanExporter();
    const provider = new NodeTracerProvider({
      spanProcessors: [createPromptSpanProcessor() as unknown as SpanProcessor, new SimpleSpanProcessor(exporter)],
    });
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    try {
      const tracer = provider.getTracer("test");
      const llm = (span: Span) => {
        span.end();
        return "answer";
      };
      expect(await prompt.trace(async () => tracer.startActiveSpan("llm", llm))).toBe("answer");
      const down = await registry.listenAgain();
      await down.close();
      const fallback = await createClient({ baseUrl: down.url, apiKey: "k", coldBudgetMs: 100 }).get("link/b", {
        fallback: "Fallback {{y}}",
      });
      fallback.trace(() => tracer.startActiveSpan("llm", llm), { variables: { y: "two" } });
      const [linked, fell] = exporter.getFinishedSpans();
      expect(linked!.attributes).toMatchObject({
        [S.PROMPT_ID]: "link/a",
        [S.PROMPT_URL]: url,
        [S.PROMPT_TEMPLATE_VERSION]: version,
        [S.PROMPT_TEMPLATE_VARIABLES]: JSON.stringify({ x: "one" }),
        [S.SESSION_ID]: "s-1",
        "promptreg.prompt.source": "network",
      });
      expect(fell!.attributes).toMatchObject({
        [S.PROMPT_ID]: "link/b",
        [S.PROMPT_TEMPLATE_VERSION]: "fallback",
        [S.PROMPT_TEMPLATE_VARIABLES]: JSON.stringify({ y: "two" }),
        "promptreg.prompt.source": "fallback",
      });
      // A fallback copied from a published version links its spans to that version, still as source `fallback`.
      const named = await createClient({ baseUrl: down.url, apiKey: "k", coldBudgetMs: 100 }).get("link/a", {
        fallback: { template: "Link {{x}}", version },
      });
      named.trace(() => tracer.startActiveSpan("llm", llm));
      expect(exporter.getFinishedSpans()[2]!.attributes).toMatchObject({
        [S.PROMPT_ID]: "link/a",
        [S.PROMPT_URL]: `${down.url}/api/v1/prompts/link%2Fa/versions/${version}`,
        [S.PROMPT_TEMPLATE_VERSION]: version,
        "promptreg.prompt.source": "fallback",
      });
    } finally {
      context.disable();
      await provider.shutdown();
    }
  });
});

describe("snapshots", () => {
  /** `promptreg` in-process, as its binary runs it (test/cli.test.ts runs the process itself once). */
  async function cli(args: string[], env: Record<string, string>) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(args, {
      env: { PATH: process.env.PATH!, ...env },
      out: (t) => out.push(t),
      err: (t) => err.push(t),
    });
    return { code, stdout: out.join("\n"), stderr: err.join("\n") };
  }

  it("`promptreg pull` writes a snapshot file that a client serves from when the registry is down", async () => {
    const version = await registry.publish("cli/a", "cli {{x}}", ["production", "staging"]);
    const out = path.join(dir, "prompts.snapshot.json");
    const env = { PROMPTREG_API_KEY: registry.harness.adminKey };
    const [ok, failed] = await Promise.all([
      cli(["pull", "--url", registry.baseUrl, "--out", out, "cli/a", `cli/a:staging`], env),
      cli(["pull", "--url", registry.baseUrl, "--out", path.join(dir, "never.json"), "cli/a", "cli/missing"], env),
    ]);
    expect(ok).toMatchObject({ code: 0, stderr: "" });
    expect(ok.stdout).toContain(out);
    expect(ok.stdout).toContain(`cli/a:staging -> ${version}`);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain("cli/missing:production");
    expect(await readdir(dir)).toEqual(["prompts.snapshot.json"]);
    expect(JSON.parse(await readFile(out, "utf8"))).toMatchObject({
      format: "promptreg-snapshot/1",
      baseUrl: registry.baseUrl,
      project: "default",
    });

    const down = await registry.listenAgain();
    await down.close();
    const c = createClient({ baseUrl: down.url, apiKey: "k", snapshot: readSnapshotFile(out), retryBaseDelayMs: 1 });
    const prompts = await Promise.all([
      c.get("cli/a"),
      c.get("cli/a", { label: "staging" }),
      c.get("cli/a", { version }),
    ]);
    expect(prompts.map((p) => [p.source, p.version])).toEqual(Array(3).fill(["snapshot", version]));
    expect(prompts[0]!.render({ x: 1 })).toBe("cli 1");
  });

  it("refuses a bad snapshot file when it is read, naming the file", async () => {
    const bad = path.join(dir, "bad.snapshot.json");
    await writeFile(
      bad,
      JSON.stringify({ format: "promptreg-snapshot/1", createdAt: "now", baseUrl: "x", entries: [{ name: "a" }] }),
    );
    expect(() => readSnapshotFile(bad)).toThrow(
      expect.objectContaining({
        code: "invalid_snapshot",
        message: expect.stringMatching(/bad\.snapshot\.json.*entries\.0/),
      }),
    );
    expect(() => readSnapshotFile(path.join(dir, "absent.json"))).toThrow(/absent\.json/);
    await writeFile(bad, "{ not json");
    expect(() => readSnapshotFile(bad)).toThrow(
      expect.objectContaining({
        code: "invalid_snapshot",
        message: expect.stringMatching(/bad\.snapshot\.json is not JSON/),
      }),
    );
    await rm(bad);
  });

  it("says how to read a snapshot file when given its path", () => {
    const options = {
      baseUrl: registry.baseUrl,
      apiKey: "k",
      snapshot: "prompts.snapshot.json",
    } as unknown as ClientOptions;
    expect(() => createClient(options)).toThrow(
      new TypeError(
        "snapshot takes a snapshot object; to use a file written by `promptreg pull`, pass readSnapshotFile(path) from '@promptreg/client/snapshot-file'",
      ),
    );
  });
});
