// The API's contract as OpenAPI 3.1: valid by a real validator, the same routes as the app serves, answers checked
// against it (the harness checks every answer of every test; here, that the check can fail), and a client generated
// from it with openapi-typescript that compiles and calls the real app over HTTP. Unknown paths under /api/v1 are a
// 404 in the one error shape.
import { execFile } from "node:child_process";
import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { Validator } from "@seriousme/openapi-schema-validator";
import express from "express";
import openapiTS, { astToString } from "openapi-typescript";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { ErrorBodySchema, PromptVersionSchema, RenderResponseSchema } from "@promptreg/client/contract";
import { apiDocument } from "../src/api-routes.js";
import { checkAnswers } from "../src/http/answer-check.js";
import { apiRoute, on } from "../src/http/api-route.js";
import { openApiDocument, openApiPath } from "../src/http/openapi.js";
import { createHarness, type Harness } from "./helpers/harness.js";
import { serve, type Listener } from "./helpers/listen.js";
import { routesOf } from "./helpers/routes.js";

const ROOT = path.resolve(import.meta.dirname, "..");

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h?.close());

describe("the OpenAPI document", () => {
  it("is served at /api/v1/openapi.json without a key, and is a valid OpenAPI 3.1 document", async () => {
    const res = await request(h.app).get("/api/v1/openapi.json");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.body.openapi).toBe("3.1.0");
    const result = await new Validator().validate(res.body);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("names every route the app serves under /api/v1, and no other", () => {
    const served = routesOf(h.app)
      .filter((r) => r.split(" ")[1]!.startsWith("/api/v1/"))
      .map((r) => {
        const [method, route] = r.split(" ");
        return `${method} ${openApiPath(route!.slice("/api/v1".length))}`;
      });
    const documented = Object.entries(apiDocument().paths ?? {}).flatMap(([p, item]) =>
      Object.keys(item ?? {})
        .filter((k) => ["get", "post", "put", "patch", "delete"].includes(k))
        .map((method) => `${method.toUpperCase()} ${p}`),
    );
    expect(served.length).toBeGreaterThan(30);
    expect(served.sort()).toEqual(documented.sort());
  });

  it("types every answer: each operation has a JSON schema for its bodies, the one error shape otherwise", () => {
    for (const [p, item] of Object.entries(apiDocument().paths ?? {}))
      for (const [method, op] of Object.entries(item ?? {}) as [string, { responses: Record<string, any> }][]) {
        expect(op.responses.default.content["application/json"].schema, `${method} ${p}`).toEqual({
          $ref: "#/components/schemas/ErrorBody",
        });
        for (const [status, response] of Object.entries(op.responses))
          if (!["204", "304"].includes(status))
            // A file (a dataset's export), a stream of JSON lines (the playground's) or of server-sent events (the
            // live updates) is text of its declared media types; every other answer is JSON.
            expect(
              response.content?.["application/json"]?.schema ??
                response.content?.["text/csv"]?.schema ??
                response.content?.["application/x-ndjson"]?.schema ??
                response.content?.["text/event-stream"]?.schema,
              `${method} ${p} ${status}`,
            ).toBeDefined();
      }
  });
});

describe("the answer check (on in the test harness)", () => {
  // A route of its own, so that it can answer what no real route does.
  const Shape = z.object({ n: z.number().int() });
  const routes = {
    demo: {
      good: apiRoute({ method: "get", path: "/good", tag: "t", summary: "s", responses: { 200: Shape } }),
      extra: apiRoute({ method: "get", path: "/extra", tag: "t", summary: "s", responses: { 200: Shape } }),
      wrong: apiRoute({ method: "get", path: "/wrong", tag: "t", summary: "s", responses: { 200: Shape } }),
      status: apiRoute({ method: "get", path: "/status", tag: "t", summary: "s", responses: { 200: Shape } }),
    },
  };
  const app = express();
  const api = express.Router();
  api.use(checkAnswers(routes, openApiDocument(routes)));
  on(api, routes.demo.good, (_req, res) => {
    res.json({ n: 1 });
  });
  // What a service might build: the answer's type allows more fields than the schema declares.
  const extra = { n: 1, secret: "undeclared" };
  on(api, routes.demo.extra, (_req, res) => {
    res.json(extra);
  });
  on(api, routes.demo.wrong, (_req, res) => {
    res.json({ n: 1.5 });
  });
  on(api, routes.demo.status, (_req, res) => {
    res.status(201).json({ n: 1 });
  });
  app.use("/api", api);

  it("passes an answer its declaration allows", async () => {
    const res = await request(app).get("/api/good");
    expect([res.status, res.body]).toEqual([200, { n: 1 }]);
  });

  it("turns an undeclared field, a wrong value or an undeclared status into a 500 naming it", async () => {
    for (const [p, says] of [
      ["/extra", "the OpenAPI document refuses it: answer must NOT have additional properties"],
      ["/wrong", "the contract's schema refuses it: n: Invalid input: expected int, received number"],
      ["/status", "status 201 is not declared"],
    ]) {
      const res = await request(app).get(`/api${p}`);
      expect(res.status, p).toBe(500);
      expect(ErrorBodySchema.parse(res.body).error.message, p).toContain(says);
    }
  });
});

describe("unknown paths under /api/v1", () => {
  it("answer an authenticated caller 404 in the one error shape, whatever the method", async () => {
    const admin = h.as(h.adminKey);
    for (const [where, res] of [
      ["GET /api/v1/nope", await admin.get("/api/v1/nope")],
      ["GET /api/v1/traces", await admin.get("/api/v1/traces")],
      ["POST /api/v1/nope", await admin.post("/api/v1/nope", { a: 1 })],
      ["PUT /api/v1/whoami", await admin.put("/api/v1/whoami", {})],
      ["PATCH /api/v1/prompts", await admin.patch("/api/v1/prompts", {})],
      ["DELETE /api/v1/keys", await admin.delete("/api/v1/keys")],
    ] as const) {
      expect(res.status, where).toBe(404);
      expect(res.headers["content-type"], where).toMatch(/^application\/json/);
      expect(Object.keys(res.body), where).toEqual(["error"]);
      const { error } = ErrorBodySchema.parse(res.body);
      expect(error.code, where).toBe("not_found");
      expect(error.message, where).toBe(`no route for ${where}`);
      expect(error.requestId, where).toEqual(expect.any(String));
    }
  });

  it("answer a caller without a key 401, telling nothing of which paths exist", async () => {
    const res = await request(h.app).get("/api/v1/nope");
    expect(res.status).toBe(401);
    expect(ErrorBodySchema.parse(res.body).error.code).toBe("unauthorized");
  });
});

describe("a client generated from the document", () => {
  let dir: string;
  let listener: Listener;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "promptreg-openapi-client-"));
    // The generated client resolves openapi-fetch (and the compiler its types) from the project's packages.
    await symlink(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"), "dir");
    listener = await serve(h.app);
  });
  afterAll(async () => {
    await listener?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("compiles with openapi-fetch and calls three endpoints of the real app", async () => {
    const document = (await request(h.app).get("/api/v1/openapi.json")).body;
    await writeFile(path.join(dir, "api.ts"), astToString(await openapiTS(document)));
    await writeFile(path.join(dir, "package.json"), JSON.stringify({ type: "module" }));
    await writeFile(
      path.join(dir, "calls.ts"),
      `import createClient from "openapi-fetch";
import type { paths } from "./api.js";

export async function calls(baseUrl: string, key: string) {
  const client = createClient<paths>({ baseUrl: baseUrl + "/api/v1", headers: { Authorization: "Bearer " + key } });
  const name = "typed/greeting";
  const published = await client.POST("/prompts/{name}/versions", {
    params: { path: { name } },
    body: { template: "Hello {{who}}", commitMessage: "from a generated client" },
  });
  const resolved = await client.GET("/prompts/{name}/resolve", { params: { path: { name }, query: { ref: "latest" } } });
  const rendered = await client.POST("/prompts/{name}/render", {
    params: { path: { name } },
    body: { ref: "latest", variables: { who: "Ada" } },
  });
  const missing = await client.GET("/prompts/{name}", { params: { path: { name: "typed/missing" } } });
  // The types are the document's: these would not compile were the answers untyped or differently shaped.
  const version: string | undefined = resolved.data?.version;
  const text: string | undefined = rendered.data?.text;
  const code: string | undefined = missing.error?.error.code;
  // @ts-expect-error: no such field in the document
  resolved.data?.nonexistent;
  return {
    statuses: [published.response.status, resolved.response.status, rendered.response.status, missing.response.status],
    version,
    text,
    code,
    resolved: resolved.data,
    rendered: rendered.data,
  };
}
`,
    );
    // The project's own compiler, strict: a type error in the generated types or in the calls fails here.
    await promisify(execFile)(
      process.execPath,
      [
        path.join(ROOT, "node_modules/typescript/bin/tsc"),
        "--strict",
        "--target",
        "es2022",
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        "--types",
        "node",
        "--skipLibCheck",
        "--outDir",
        path.join(dir, "out"),
        path.join(dir, "calls.ts"),
      ],
      { cwd: dir },
    ).catch((err: { stdout?: string }) => {
      throw new Error(`the generated client does not compile:\n${err.stdout}`);
    });
    await writeFile(path.join(dir, "out", "package.json"), JSON.stringify({ type: "module" }));
    const { calls } = await import(pathToFileURL(path.join(dir, "out", "calls.js")).href);
    const result = await calls(listener.url, h.adminKey);
    expect(result.statuses).toEqual([201, 200, 200, 404]);
    expect(result.version).toBe("1.0.0");
    expect(result.text).toBe("Hello Ada");
    expect(result.code).toBe("not_found");
    // What the generated client received is what the contract describes.
    expect(PromptVersionSchema.parse(result.resolved).commitMessage).toBe("from a generated client");
    expect(RenderResponseSchema.parse(result.rendered).prompt.name).toBe("typed/greeting");
  });
});
