// The playground through the real app against a fake OpenAI server that streams as OpenAI does: deltas arrive in
// order and the last event has the usage, the call is stored as a span linked to the version; what fails before the
// model answers is an error in the one error shape, what fails midway an error event; a closed client cancels the call.
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishVersion } from "./helpers/factories.js";
import { type FakeOpenAI, startFakeOpenAI } from "./helpers/fake-openai.js";
import { type Client, client, createHarness, type Harness } from "./helpers/harness.js";
import { type Listener, serve } from "./helpers/listen.js";

let h: Harness;
let fake: FakeOpenAI;
let server: Listener;
const admin = (): Client => client(h.app, h.adminKey);
const PATH = "/api/v1/prompts/support%2Fanswer/playground";

beforeAll(async () => {
  fake = await startFakeOpenAI({ model: "gpt-test-2026-01-01" });
  h = await createHarness({ allowPrivateConnections: true });
  server = await serve(h.app);
  await publishVersion(admin(), "support/answer", { template: "Answer {{q}}", commitMessage: "v1" });
  await admin()
    .post("/api/v1/connections", { name: "openai", baseUrl: fake.baseURL, model: "gpt-test", timeoutMs: 10_000 })
    .expect(201);
}, 60_000);

afterAll(async () => {
  await server?.close();
  await h?.close();
  await fake?.close();
});

const lines = (text: string) =>
  text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);

async function spanOf(traceId: string) {
  const res = await admin().get(`/api/v1/traces/${traceId}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.spans[0] as Record<string, any>;
}

describe("playground", () => {
  it("streams the deltas in order, then the output with tokens; the call is a span linked to the version", async () => {
    const res = await admin().post(PATH, { ref: "latest", variables: { q: "hi" }, connection: "openai" });
    expect(res.status, res.text).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/x-ndjson/);
    const events = lines(res.text);
    expect(events.map((e) => e.type)).toEqual(["start", "delta", "delta", "done"]);
    expect(events[0]).toMatchObject({ prompt: { name: "support/answer", version: "1.0.0" }, model: "gpt-test" });
    expect(events.slice(1, 3).map((e) => e.text)).toEqual(["hel", "lo"]);
    const done = events[3]!;
    expect(done).toMatchObject({
      output: "hello",
      model: "gpt-test-2026-01-01",
      usage: { promptTokens: 11, completionTokens: 2 },
    });
    expect(done.latencyMs).toBeGreaterThanOrEqual(0);
    const sent = fake.bodies().at(-1) as Record<string, any>;
    expect(sent).toMatchObject({ stream: true, stream_options: { include_usage: true }, model: "gpt-test" });
    expect(sent.messages).toEqual([{ role: "user", content: "Answer hi" }]);

    const span = await spanOf(done.traceId);
    expect(span).toMatchObject({
      spanId: done.spanId,
      spanKind: "LLM",
      promptName: "support/answer",
      promptVersion: "1.0.0",
      linkStatus: "linked",
      source: "playground",
      // A version's test, not its traffic: compare and live evaluations leave it out.
      inEvaluation: true,
      tokensPrompt: 11,
      tokensCompletion: 2,
    });
    expect(span.attributes["output.value"]).toBe("hello");
    expect(JSON.parse(span.attributes["llm.prompt_template.variables"])).toEqual({ q: "hi" });
  });

  it("refuses a missing variable with the 422 of /render, before any call", async () => {
    const before = fake.requests();
    const res = await admin().post(PATH, { ref: "latest", variables: {}, connection: "openai" });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("missing_variables");
    expect(fake.requests()).toBe(before);
  });

  it("is for write keys: a read key is a 403", async () => {
    const read = await h.newKey("read");
    const res = await h.as(read).post(PATH, { ref: "latest", variables: { q: "hi" }, connection: "openai" });
    expect(res.status).toBe(403);
  });

  it("names an unknown connection", async () => {
    const res = await admin().post(PATH, { ref: "latest", variables: { q: "hi" }, connection: "nope" });
    expect(res.status).toBe(404);
    expect(res.body.error.message).toContain("'nope'");
  });

  it("a model's 500 before answering is a clear error, and the failed call is still a span", async () => {
    const res = await admin().post(PATH, { ref: "latest", variables: { q: "status:500" }, connection: "openai" });
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe("model_failed");
    expect(res.body.error.message).toContain("connection 'openai' answered 500");
    const span = await spanOf(res.body.error.details.traceId);
    expect(span).toMatchObject({ failed: true, source: "playground", promptVersion: "1.0.0", inEvaluation: true });
  });

  it("a model's 429 is a 429", async () => {
    const res = await admin().post(PATH, { ref: "latest", variables: { q: "status:429" }, connection: "openai" });
    expect(res.status).toBe(429);
    expect(res.body.error.message).toContain("answered 429");
  });

  it("a mid-stream error event ends the stream with an error event", async () => {
    const res = await admin().post(PATH, { ref: "latest", variables: { q: "stream:error" }, connection: "openai" });
    expect(res.status).toBe(200);
    const events = lines(res.text);
    expect(events.map((e) => e.type)).toEqual(["start", "delta", "error"]);
    expect(events[2]!.message).toContain("fake overload mid-stream");
    expect(await spanOf(events[2]!.traceId)).toMatchObject({ failed: true });
  });

  it("a connection cut mid-answer ends the stream with an error event", async () => {
    const res = admin().post(PATH, { ref: "latest", variables: { q: "stream:cut" }, connection: "openai" });
    const done = res.then((r) => r);
    // The fake holds the connection after its first chunk until it is cut.
    await until(() => fake.destroyHeld() > 0);
    const events = lines((await done).text);
    expect(events.map((e) => e.type)).toEqual(["start", "delta", "error"]);
  });

  it("a client that closes the connection cancels the model's call", async () => {
    const start = await new Promise<{ req: http.ClientRequest; first: string }>((resolve, reject) => {
      const req = http.request(`${server.url}${PATH}`, {
        method: "POST",
        headers: { authorization: `Bearer ${h.adminKey}`, "content-type": "application/json" },
      });
      req.on("error", () => {});
      req.on("response", (res) => res.once("data", (chunk: Buffer) => resolve({ req, first: chunk.toString() })));
      req.on("error", reject);
      req.end(JSON.stringify({ ref: "latest", variables: { q: "stream:cut" }, connection: "openai" }));
    });
    const { traceId } = JSON.parse(start.first.split("\n")[0]!);
    start.req.destroy();
    // The fake never ends this answer: a span recording the call as cancelled shows the call was given up.
    let span: Record<string, any> | undefined;
    await until(async () => {
      const res = await admin().get(`/api/v1/traces/${traceId}`);
      span = res.body.spans?.[0];
      return res.status === 200 && span !== undefined;
    });
    expect(span).toMatchObject({ failed: true, errorMessage: "cancelled" });
    fake.destroyHeld();
  });
});

async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}
