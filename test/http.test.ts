import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../src/app.js";
import { publishVersion } from "./helpers/factories.js";
import { createHarness, type Harness } from "./helpers/harness.js";
import { capturingLogger } from "./helpers/logs.js";

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h?.close());

const auth = (t: request.Test) => t.set("Authorization", `Bearer ${h.adminKey}`);

describe("http edges", () => {
  it("answers health and readiness without a key", async () => {
    expect((await request(h.app).get("/healthz")).body).toEqual({ status: "ok" });
    expect((await request(h.app).get("/readyz")).body).toMatchObject({ status: "ready" });
  });

  it("ends every JSON answer with a newline, as a terminal shows it: a read, a cached resolve, an error", async () => {
    await publishVersion(h.as(h.adminKey), "newline", "x");
    for (const path of [
      "/healthz",
      "/api/v1/prompts/newline",
      "/api/v1/prompts/newline/resolve?ref=latest",
      "/api/v1/nope",
    ]) {
      for (let i = 0; i < 2; i++) {
        const res = await auth(request(h.app).get(path));
        expect(res.headers["content-type"], path).toMatch(/^application\/json/);
        expect(res.text.endsWith("}\n"), `${path}: ${JSON.stringify(res.text.slice(-20))}`).toBe(true);
      }
    }
  });

  it("is not ready while a migration is unfinished", async () => {
    await h.database.query(
      "INSERT INTO _prisma_migrations (id, checksum, migration_name) VALUES ('00000000-0000-4000-8000-00000000dead', 'x', '99990101000000_half_done')",
    );
    try {
      await expect(h.database.ready()).rejects.toThrow("unfinished migrations");
      const res = await request(h.app).get("/readyz");
      expect(res.status).toBe(503);
      expect(res.body.error).toMatchObject({
        code: "unavailable",
        message: "database not ready: unfinished migrations",
      });
    } finally {
      await h.database.query("DELETE FROM _prisma_migrations WHERE id = '00000000-0000-4000-8000-00000000dead'");
    }
    expect((await request(h.app).get("/readyz")).status).toBe(200);
  });

  it("uses one error shape with the request id, honouring a caller's X-Request-Id", async () => {
    const res = await auth(request(h.app).get("/api/v1/nowhere")).set("X-Request-Id", "abc-123");
    expect(res.status).toBe(404);
    expect(res.headers["x-request-id"]).toBe("abc-123");
    expect(res.body).toEqual({
      error: { code: "not_found", message: "no route for GET /api/v1/nowhere", requestId: "abc-123" },
    });
  });

  it("names where an invalid value was in one style: params.name, query.ref, body.template.0.role", async () => {
    await publishVersion(h.as(h.adminKey), "paths", "x");
    const cases: [request.Test, string][] = [
      [auth(request(h.app).get(`/api/v1/prompts/${"n".repeat(300)}`)), "params.name"],
      [auth(request(h.app).get("/api/v1/prompts/paths/resolve?ref=Not%20A%20Ref!")), "query.ref"],
      [auth(request(h.app).get(`/api/v1/prompts/paths/resolve?ref=${"r".repeat(200)}`)), "query.ref"],
      [auth(request(h.app).get("/api/v1/prompts/paths/diff?from=latest&to=Not%20A%20Ref!")), "query.to"],
      [auth(request(h.app).get("/api/v1/prompts/paths/resolve?ref=latest%00")), "query.ref"],
      [
        auth(request(h.app).post("/api/v1/prompts/paths/versions")).send({
          template: [{ role: "bogus", content: "x" }],
        }),
        "body.template.0.role",
      ],
      [auth(request(h.app).post("/api/v1/prompts/paths/render")).send({ ref: "Not A Ref!" }), "body.ref"],
      [
        auth(request(h.app).post("/api/v1/prompts/paths/versions")).send({ template: "x", config: { a: ["\u0000"] } }),
        "body.config.a.0",
      ],
      [auth(request(h.app).put("/api/v1/prompts/paths/labels/1.2.3")).send({ version: "1.0.0" }), "params.label"],
      [auth(request(h.app).put("/api/v1/prompts/paths/labels/latest")).send({ version: "1.0.0" }), "params.label"],
      [
        auth(request(h.app).post("/api/v1/prompts/paths/versions")).send({ template: "y", labels: ["ok", "v2"] }),
        "body.labels.1",
      ],
    ];
    for (const [call, path] of cases) {
      const res = await call;
      expect(res.status, path).toBe(422);
      expect(res.body.error.code, path).toBe("validation_error");
      expect(res.body.error.details.issues.map((i: { path: string }) => i.path)).toEqual([path]);
    }
  });

  it("says to encode a '/' in a prompt name when a path reads as a prompt route with the '/' sent as is", async () => {
    for (const [method, sent, encoded] of [
      ["POST", "/api/v1/prompts/support/triage/versions", "/api/v1/prompts/support%2Ftriage/versions"],
      ["GET", "/api/v1/prompts/support/triage/resolve", "/api/v1/prompts/support%2Ftriage/resolve"],
      ["GET", "/api/v1/prompts/support/triage", "/api/v1/prompts/support%2Ftriage"],
      [
        "PUT",
        "/api/v1/prompts/support/emails/triage/labels/staging",
        "/api/v1/prompts/support%2Femails%2Ftriage/labels/staging",
      ],
      [
        "GET",
        "/api/v1/prompts/support/triage/labels/production/history",
        "/api/v1/prompts/support%2Ftriage/labels/production/history",
      ],
      [
        "GET",
        "/api/v1/prompts/support/triage/compare?versions=production,staging",
        "/api/v1/prompts/support%2Ftriage/compare?versions=production,staging",
      ],
    ] as const) {
      const res = await auth(request(h.app)[method.toLowerCase() as "get"](sent));
      expect(res.status, sent).toBe(404);
      expect(res.body.error.message).toBe(
        `no route for ${method} ${sent.split("?")[0]}: a prompt name containing '/' must be sent URL-encoded as %2F, as in ${method} ${encoded}`,
      );
    }
    // The encoded path it gives reaches the route, which looks for the prompt by its full name.
    expect((await auth(request(h.app).get("/api/v1/prompts/support%2Ftriage"))).body.error.message).toBe(
      "prompt 'support/triage' not found",
    );
    // A path that cannot be a prompt route keeps the plain answer.
    expect((await auth(request(h.app).get("/api/v1/prompts/_drafts/x"))).body.error.message).toBe(
      "no route for GET /api/v1/prompts/_drafts/x",
    );
  });

  it("refuses malformed JSON (400), other media types (415) and oversized bodies (413), writing nothing", async () => {
    const malformed = await auth(request(h.app).post("/api/v1/prompts/x/versions"))
      .set("Content-Type", "application/json")
      .send('{"template": ');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe("bad_request");
    const text = await auth(request(h.app).post("/api/v1/prompts/x/versions"))
      .set("Content-Type", "text/plain")
      .send("template");
    expect(text.status).toBe(415);
    const big = await auth(request(h.app).post("/api/v1/prompts/x/versions")).send({
      template: "x".repeat(1024 * 1024 + 10),
    });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe("payload_too_large");
    expect(await h.database.prisma.prompt.count({ where: { name: "x" } })).toBe(0);
  });
});

describe("request logs", () => {
  it("log one JSON line per request with its id: writes at info, failures at warn, successful reads at debug", async () => {
    const { logger, lines, logged } = capturingLogger();
    const { app } = createApp({
      config: { bodyLimitBytes: 1 << 20, resolveCacheSize: 10 },
      database: h.database,
      bus: h.bus,
      logger,
    });
    const key = `Bearer ${h.adminKey}`;
    await request(app)
      .post("/api/v1/prompts/logged/versions")
      .set("Authorization", key)
      .set("X-Request-Id", "w-1")
      .send({ template: "x" });
    await request(app)
      .get("/api/v1/prompts/logged/resolve?ref=latest")
      .set("Authorization", key)
      .set("X-Request-Id", "r-1");
    await request(app).get("/api/v1/prompts/missing").set("Authorization", key).set("X-Request-Id", "e-1");
    await logged((l) => l.msg === "request", 2);
    const requests = lines.filter((l) => l.msg === "request");
    expect(requests).toEqual([
      expect.objectContaining({
        level: 30,
        reqId: "w-1",
        method: "POST",
        path: "/api/v1/prompts/logged/versions",
        status: 201,
        ms: expect.any(Number),
      }),
      expect.objectContaining({ level: 40, reqId: "e-1", method: "GET", status: 404 }),
    ]);
  });
});
