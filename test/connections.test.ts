// Model connections through the real app: admin only, the key named by a PROMPTREG_SECRET_* variable and never
// stored or answered, private targets refused unless the server allows them, and the test call against a real
// OpenAI-compatible stand-in on 127.0.0.1 (answers, errors, a black hole, a body that is not a completion).
import { EventEmitter, once } from "node:events";
import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { createProject } from "./helpers/factories.js";
import { createHarness, type Harness } from "./helpers/harness.js";
import { listen, type Listener } from "./helpers/listen.js";

interface Seen {
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

let h: Harness;
let guarded: Harness;
let model: Listener;
let hole: Listener;
const seen: Seen[] = [];
const holeConnections = new EventEmitter();
// How the stand-in answers the next calls; "ok" by default.
let mode: "ok" | "401" | "429" | "html" = "ok";

beforeAll(async () => {
  model = await listen(
    http.createServer((req, res) => {
      let text = "";
      req.on("data", (c) => (text += c));
      req.on("end", () => {
        seen.push({ url: req.url ?? "", headers: req.headers, body: JSON.parse(text || "{}") });
        if (mode === "401")
          return res.writeHead(401, { "content-type": "application/json" }).end('{"error":{"message":"bad key"}}');
        if (mode === "429") return res.writeHead(429, { "retry-after": "3" }).end();
        if (mode === "html") return res.writeHead(200, { "content-type": "text/html" }).end("<html>proxy</html>");
        res.writeHead(200, { "content-type": "application/json" }).end(
          JSON.stringify({
            model: "judge-model-2026-01-01",
            choices: [{ index: 0, message: { role: "assistant", content: "OK" }, finish_reason: "stop" }],
            usage: { prompt_tokens: 9, completion_tokens: 1 },
          }),
        );
      });
    }),
  );
  // Accepts and never answers; tells each connection it takes.
  hole = await listen(net.createServer(() => holeConnections.emit("connection")));
  h = await createHarness({
    allowPrivateConnections: true,
    secrets: { PROMPTREG_SECRET_JUDGE: "sk-judge-123", PROMPTREG_SECRET_TEAM: "sk-team-456" },
    secretProjects: { PROMPTREG_SECRET_TEAM: ["conn-team"] },
  });
  guarded = await createHarness();
});
afterAll(async () => {
  await h?.close();
  await guarded?.close();
  await model?.close();
  await hole?.close();
});

const definition = (over: Record<string, unknown> = {}) => ({
  name: "judge",
  baseUrl: `${model.url}/v1`,
  model: "gpt-judge",
  apiKeyEnv: "PROMPTREG_SECRET_JUDGE",
  headers: { "X-Team": "evals" },
  ...over,
});

describe("connections", () => {
  it("creates, lists, reads, replaces and deletes a connection; the key is never in an answer", async () => {
    const admin = h.as(h.adminKey);
    const created = await admin.post("/api/v1/connections", definition()).expect(201);
    expect(created.body).toEqual({
      name: "judge",
      baseUrl: `${model.url}/v1`,
      model: "gpt-judge",
      apiKeyEnv: "PROMPTREG_SECRET_JUDGE",
      apiKeyEnvSet: true,
      headers: { "x-team": "evals" },
      timeoutMs: 30_000,
      maxConcurrency: 4,
      requestsPerMinute: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const listed = await admin.get("/api/v1/connections").expect(200);
    expect(listed.body.data).toEqual([created.body]);
    expect(JSON.stringify(listed.body)).not.toContain("sk-judge-123");
    await admin.post("/api/v1/connections", definition()).expect(409);

    const replaced = await admin
      .put("/api/v1/connections/judge", { ...definition({ apiKeyEnv: "PROMPTREG_SECRET_OTHER", timeoutMs: 5000 }) })
      .expect(200);
    expect(replaced.body).toMatchObject({ apiKeyEnv: "PROMPTREG_SECRET_OTHER", apiKeyEnvSet: false, timeoutMs: 5000 });
    expect((await admin.get("/api/v1/connections/judge").expect(200)).body).toEqual(replaced.body);
    const renamed = await admin.put("/api/v1/connections/judge", definition({ name: "other" })).expect(422);
    expect(renamed.body.error.details.issues).toEqual([
      { path: "body.name", message: expect.stringMatching(/cannot be renamed/) },
    ]);

    await admin.delete("/api/v1/connections/judge").expect(204);
    await admin.get("/api/v1/connections/judge").expect(404);
    await admin.delete("/api/v1/connections/judge").expect(404);
  });

  it("is for admins only, and each project sees its own", async () => {
    const admin = h.as(h.adminKey);
    await admin.post("/api/v1/connections", definition({ name: "mine" })).expect(201);
    for (const role of ["read", "write"] as const) {
      const key = h.as(await h.newKey(role));
      await key.get("/api/v1/connections").expect(403);
      await key.post("/api/v1/connections", definition({ name: "theirs" })).expect(403);
      await key.post("/api/v1/connections/mine/test").expect(403);
    }
    const other = (await admin.post("/api/v1/projects", { name: "conn-other" }).expect(201)).body;
    const otherAdmin = h.as(other.adminKey.key ?? other.adminKey);
    await otherAdmin.get("/api/v1/connections/mine").expect(404);
    expect((await otherAdmin.get("/api/v1/connections").expect(200)).body.data).toEqual([]);
    await admin.delete("/api/v1/connections/mine").expect(204);
  });

  it.each([
    [{ apiKeyEnv: "DATABASE_URL" }, "body.apiKeyEnv", /PROMPTREG_SECRET_/],
    [{ apiKeyEnv: "PROMPTREG_SECRET_" }, "body.apiKeyEnv", /PROMPTREG_SECRET_/],
    [{ baseUrl: "file:///etc/passwd" }, "body.baseUrl", /http\(s\) URL/],
    [{ baseUrl: "ftp://models.example/v1" }, "body.baseUrl", /http\(s\) URL/],
    [{ headers: { Authorization: "Bearer sk-x" } }, "body.headers.Authorization", /apiKeyEnv/],
    [{ headers: { "X-Bad": "a\r\nInjected: 1" } }, "body.headers.X-Bad", /control characters/],
    [{ headers: { "X-Wide": "a\u0100b" } }, "body.headers.X-Wide", /Latin-1/],
    [{ baseUrl: "http://127.0.0.1/v1\t?x" }, "body.baseUrl", /spaces or control characters/],
    [{ timeoutMs: 10 }, "body.timeoutMs", /1000/],
    [{ maxConcurrency: 0 }, "body.maxConcurrency", /1/],
    [{ name: "../x" }, "body.name", /letters, digits/],
    [{ model: "" }, "body.model", /empty/],
    [{ apiKey: "sk-x" }, "body", /apiKey/],
  ])("refuses %j with a 422 naming %s", async (over, path, message) => {
    const res = await h
      .as(h.adminKey)
      .post("/api/v1/connections", definition({ name: "bad", ...over }))
      .expect(422);
    expect(res.body.error.code).toBe("validation_error");
    expect(res.body.error.details.issues).toContainEqual({ path, message: expect.stringMatching(message) });
  });

  it("lets a project name only the keys PROMPTREG_CONNECTION_KEYS gives it (unlisted: 'default' only)", async () => {
    const team = h.as((await createProject(h, "conn-team")).adminKey);
    const other = h.as((await createProject(h, "conn-tenant")).adminKey);
    // Another tenant cannot point the default project's key, or another team's, at a server of its own.
    for (const env of ["PROMPTREG_SECRET_JUDGE", "PROMPTREG_SECRET_TEAM", "PROMPTREG_SECRET_ANYTHING"]) {
      const res = await other.post("/api/v1/connections", definition({ name: "steal", apiKeyEnv: env })).expect(422);
      expect(res.body.error.details.issues).toEqual([
        { path: "body.apiKeyEnv", message: expect.stringMatching(/is not a key for project 'conn-tenant'/) },
      ]);
    }
    await h
      .as(h.adminKey)
      .post("/api/v1/connections", definition({ name: "team", apiKeyEnv: "PROMPTREG_SECRET_TEAM" }))
      .expect(422);
    const mine = await team
      .post("/api/v1/connections", definition({ name: "team", apiKeyEnv: "PROMPTREG_SECRET_TEAM" }))
      .expect(201);
    expect(mine.body.apiKeyEnvSet).toBe(true);
    seen.length = 0;
    expect((await team.post("/api/v1/connections/team/test").expect(200)).body.ok).toBe(true);
    expect(seen[0]!.headers.authorization).toBe("Bearer sk-team-456");
  });

  it("refuses a key over plain http unless private connections are allowed", async () => {
    const res = await guarded
      .as(guarded.adminKey)
      .post("/api/v1/connections", definition({ name: "clear", baseUrl: "http://8.8.8.8/v1" }))
      .expect(422);
    expect(res.body.error.details.issues).toEqual([
      { path: "body.baseUrl", message: expect.stringMatching(/must be https when apiKeyEnv is set/) },
    ]);
    await guarded
      .as(guarded.adminKey)
      .post("/api/v1/connections", definition({ name: "clear", baseUrl: "http://8.8.8.8/v1", apiKeyEnv: null }))
      .expect(201);
    await guarded.as(guarded.adminKey).delete("/api/v1/connections/clear").expect(204);
  });

  it("refuses private targets unless PROMPTREG_ALLOW_PRIVATE_CONNECTIONS is set, names resolved included", async () => {
    const admin = guarded.as(guarded.adminKey);
    for (const baseUrl of [
      `${model.url}/v1`,
      `http://localhost:${model.port}/v1`,
      "http://169.254.169.254/v1",
      "http://[::1]/v1",
    ]) {
      const res = await admin.post("/api/v1/connections", definition({ name: "private", baseUrl })).expect(422);
      expect(res.body.error.details.issues).toEqual([
        { path: "body.baseUrl", message: expect.stringMatching(/PROMPTREG_ALLOW_PRIVATE_CONNECTIONS=true/) },
      ]);
    }
    expect((await admin.get("/api/v1/connections").expect(200)).body.data).toEqual([]);
  });
});

describe("the settings", () => {
  it("reads PROMPTREG_SECRET_* and PROMPTREG_CONNECTION_KEYS once, and refuses a malformed list", () => {
    const config = loadConfig({
      PROMPTREG_SECRET_A: "sk-a",
      PROMPTREG_SECRET_EMPTY: "",
      DATABASE_URL: "postgresql://x/y",
      PROMPTREG_CONNECTION_KEYS: " PROMPTREG_SECRET_A = team-a, team-b ; PROMPTREG_SECRET_B=team-c",
      PROMPTREG_ALLOW_PRIVATE_CONNECTIONS: "true",
    });
    expect([...config.secrets]).toEqual([["PROMPTREG_SECRET_A", "sk-a"]]);
    expect([...config.secretProjects].map(([k, v]) => [k, [...v]])).toEqual([
      ["PROMPTREG_SECRET_A", ["team-a", "team-b"]],
      ["PROMPTREG_SECRET_B", ["team-c"]],
    ]);
    expect(config.allowPrivateConnections).toBe(true);
    expect(() => loadConfig({ PROMPTREG_CONNECTION_KEYS: "DATABASE_URL=team-a" })).toThrow(
      /PROMPTREG_CONNECTION_KEYS: 'DATABASE_URL=team-a' must be PROMPTREG_SECRET_<NAME>=<project>/,
    );
    expect(() => loadConfig({ PROMPTREG_ALLOW_PRIVATE_CONNECTIONS: "yes" })).toThrow(
      /PROMPTREG_ALLOW_PRIVATE_CONNECTIONS: must be true or false/,
    );
  });
});

describe("testing a connection", () => {
  beforeAll(async () => {
    await h
      .as(h.adminKey)
      .post("/api/v1/connections", definition({ name: "t" }))
      .expect(201);
  });
  const test = async () => (await h.as(h.adminKey).post("/api/v1/connections/t/test").expect(200)).body;

  it("sends one small chat completion with the key from the environment and the extra headers", async () => {
    mode = "ok";
    seen.length = 0;
    expect(await test()).toEqual({
      ok: true,
      latencyMs: expect.any(Number),
      model: "judge-model-2026-01-01",
      reply: "OK",
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toBe("/v1/chat/completions");
    expect(seen[0]!.headers).toMatchObject({
      authorization: "Bearer sk-judge-123",
      "x-team": "evals",
      "user-agent": "promptreg",
    });
    expect(seen[0]!.body).toEqual({
      model: "gpt-judge",
      messages: [{ role: "user", content: "Reply with the word OK." }],
      max_tokens: 5,
    });
  });

  it("reports what the server or the network said, once, without retrying", async () => {
    seen.length = 0;
    mode = "401";
    expect(await test()).toEqual({
      ok: false,
      error: 'answered 401: {"error":{"message":"bad key"}}',
      status: 401,
      retryable: false,
    });
    mode = "429";
    expect(await test()).toEqual({ ok: false, error: "answered 429", status: 429, retryable: true });
    mode = "html";
    expect(await test()).toMatchObject({
      ok: false,
      error: "answered 200 with a body that is not JSON",
      retryable: true,
    });
    expect(seen).toHaveLength(3);
    mode = "ok";
  });

  it("gives up on a server that never answers after the connection's timeout", async () => {
    const admin = h.as(h.adminKey);
    await admin
      .post("/api/v1/connections", definition({ name: "hole", baseUrl: `${hole.url}/v1`, timeoutMs: 1000 }))
      .expect(201);
    expect(await (await admin.post("/api/v1/connections/hole/test").expect(200)).body).toEqual({
      ok: false,
      error: "no answer within 1000 ms",
      status: null,
      retryable: true,
    });
  });

  it("runs at most maxConcurrency tests of a connection at once (429 beyond)", async () => {
    const admin = h.as(h.adminKey);
    await admin
      .post(
        "/api/v1/connections",
        definition({ name: "one", baseUrl: `${hole.url}/v1`, timeoutMs: 1000, maxConcurrency: 1 }),
      )
      .expect(201);
    const reached = once(holeConnections, "connection");
    const first = admin.post("/api/v1/connections/one/test").then((r) => r);
    await reached;
    const second = await admin.post("/api/v1/connections/one/test").expect(429);
    expect(second.body.error.message).toMatch(/has 1 test calls in flight \(its maxConcurrency\)/);
    expect((await first).body).toMatchObject({ ok: false, error: "no answer within 1000 ms" });
    await admin.post("/api/v1/connections/one/test").expect(200);
  });

  it("says when the key's variable is not set on this server", async () => {
    const admin = h.as(h.adminKey);
    await admin
      .post("/api/v1/connections", definition({ name: "unset", apiKeyEnv: "PROMPTREG_SECRET_MISSING" }))
      .expect(201);
    seen.length = 0;
    expect((await admin.post("/api/v1/connections/unset/test").expect(200)).body).toEqual({
      ok: false,
      error: "PROMPTREG_SECRET_MISSING is not set in the server's environment",
      status: null,
      retryable: false,
    });
    expect(seen).toHaveLength(0);
  });
});
