import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, type Harness } from "./helpers/harness.js";

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

  it("uses one error shape with the request id, honouring a caller's X-Request-Id", async () => {
    const res = await auth(request(h.app).get("/api/v1/nowhere")).set("X-Request-Id", "abc-123");
    expect(res.status).toBe(404);
    expect(res.headers["x-request-id"]).toBe("abc-123");
    expect(res.body).toEqual({ error: { code: "not_found", message: "no route for GET /api/v1/nowhere", requestId: "abc-123" } });
  });

  it("refuses malformed JSON (400), other media types (415) and oversized bodies (413), writing nothing", async () => {
    const malformed = await auth(request(h.app).post("/api/v1/prompts/x/versions")).set("Content-Type", "application/json").send('{"template": ');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe("bad_request");
    const text = await auth(request(h.app).post("/api/v1/prompts/x/versions")).set("Content-Type", "text/plain").send("template");
    expect(text.status).toBe(415);
    const big = await auth(request(h.app).post("/api/v1/prompts/x/versions")).send({ template: "x".repeat(1024 * 1024 + 10) });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe("payload_too_large");
    expect(await h.database.prisma.prompt.count()).toBe(0);
  });
});
