// GET /metrics: Prometheus text for the instance's admin, counting what the app did, with bounded label values.
import type { AddressInfo } from "node:net";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishVersion } from "./helpers/factories.js";
import { createHarness, enc, type Harness } from "./helpers/harness.js";
import { newTraceId, otlpProtobuf, type SpanSpec } from "./helpers/otlp.js";

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

const scrape = async (key = h.adminKey) => {
  const res = await request(h.app).get("/metrics").set("Authorization", `Bearer ${key}`);
  expect(res.status, res.text).toBe(200);
  return res.text;
};

/** The value of one series, e.g. `promptreg_otlp_spans_total{outcome="stored"}`; 0 when it is absent. */
function seriesValue(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe("GET /metrics", () => {
  it("is for an admin key of the default project only, refused in the one error shape otherwise", async () => {
    expect((await request(h.app).get("/metrics")).body.error.code).toBe("unauthorized");
    for (const role of ["read", "write"] as const) {
      const res = await request(h.app)
        .get("/metrics")
        .set("Authorization", `Bearer ${await h.newKey(role)}`);
      expect(res.status).toBe(403);
      expect(res.body.error.message).toBe("reading the metrics needs an admin key of the 'default' project");
    }
    const other = await h.as(h.adminKey).post("/api/v1/projects", { name: "metrics-other" });
    const res = await request(h.app).get("/metrics").set("Authorization", `Bearer ${other.body.adminKey.key}`);
    expect(res.status).toBe(403);
    const ok = await request(h.app).get("/metrics").set("Authorization", `Bearer ${h.adminKey}`);
    expect(ok.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(ok.text).toMatch(/^promptreg_nodejs_eventloop_lag_seconds /m);
    expect(ok.text).toMatch(/^promptreg_process_resident_memory_bytes /m);
  });

  it("counts requests by route pattern, never by the path sent, and resolves by cache hit or miss", async () => {
    const admin = h.as(h.adminKey);
    await publishVersion(admin, "m/one", "Hi {{a}}");
    const before = await scrape();
    const series = (status: number) =>
      `promptreg_http_request_duration_seconds_count{method="GET",route="/prompts/:name/resolve",status="${status}"}`;
    for (let i = 0; i < 3; i++)
      expect((await admin.get(`/api/v1/prompts/${enc("m/one")}/resolve?ref=latest`)).status).toBe(200);
    expect((await admin.get(`/api/v1/prompts/${enc("m/none")}/resolve`)).status).toBe(404);
    for (const path of ["/api/v1/nope-1", "/api/v1/nope-2", "/nope-3?x=1"]) await admin.get(path);
    const after = await scrape();
    expect(seriesValue(after, series(200)) - seriesValue(before, series(200))).toBe(3);
    expect(seriesValue(after, series(404)) - seriesValue(before, series(404))).toBe(1);
    // The first resolve fills the cache: two hits. The unknown prompt is a miss.
    const hits = 'promptreg_resolve_cache_total{result="hit"}';
    const misses = 'promptreg_resolve_cache_total{result="miss"}';
    expect(seriesValue(after, hits) - seriesValue(before, hits)).toBe(2);
    expect(seriesValue(after, misses) - seriesValue(before, misses)).toBe(2);
    expect(after).not.toMatch(/nope-/);
    expect(after).toMatch(/^promptreg_http_request_duration_seconds_count\{method="GET",route="none",status="404"\} /m);
  });

  it("counts OTLP spans stored, rejected and sent again", async () => {
    const key = await h.newKey("write");
    const server = h.app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
      const traceId = newTraceId();
      const spans: SpanSpec[] = [
        { traceId, spanId: "1111111111111111", attributes: { "llm.cost.total": 0.5 } },
        { traceId, spanId: "2222222222222222" },
        { traceId, start: "2000", end: "1000" },
      ];
      const post = () =>
        fetch(url, {
          method: "POST",
          headers: { "Content-Type": "application/x-protobuf", Authorization: `Bearer ${key}` },
          body: otlpProtobuf(spans),
        });
      const before = await scrape();
      expect((await post()).status).toBe(200);
      expect((await post()).status).toBe(200);
      const after = await scrape();
      const delta = (outcome: string) =>
        seriesValue(after, `promptreg_otlp_spans_total{outcome="${outcome}"}`) -
        seriesValue(before, `promptreg_otlp_spans_total{outcome="${outcome}"}`);
      expect({ stored: delta("stored"), rejected: delta("rejected"), duplicate: delta("duplicate") }).toEqual({
        stored: 2,
        rejected: 2,
        duplicate: 2,
      });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
