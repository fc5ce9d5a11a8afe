// Reading traces and spans: a trace as a tree, projects kept apart, span filters, and pages newest first.
import type request from "supertest";
import { beforeAll, describe, expect, it } from "vitest";
import { createProject, publishVersion } from "./helpers/factories.js";
import type { Client } from "./helpers/harness.js";
import { newSpanId, newTraceId } from "./helpers/otlp.js";
import { h, readerKey, send, traceOf, useTraceReceiver, writer, writerKey } from "./helpers/trace-receiver.js";

useTraceReceiver();

describe("reading traces and spans", () => {
  let key: string;
  let other: Client;
  let mine: Client;
  const base = 1_800_000_000_000_000_000n;
  const at = (ms: number) => (base + BigInt(ms) * 1_000_000n).toString();
  const traceA = newTraceId();
  const traceB = newTraceId();

  beforeAll(async () => {
    ({ adminKey: key, admin: mine } = await createProject(h, "readers"));
    other = writer;
    await publishVersion(mine, "p", "x");
    const root = newSpanId();
    const tool = newSpanId();
    const llm1 = newSpanId();
    const llm2 = newSpanId();
    const res = await send(
      [
        // Deliberately out of order on the wire.
        {
          traceId: traceA,
          spanId: llm2,
          parentSpanId: root,
          name: "llm-2",
          start: at(30),
          end: at(40),
          status: { code: 2 },
          attributes: {
            "openinference.span.kind": "LLM",
            "prompt.id": "p",
            "llm.prompt_template.version": "1.0.0",
            "session.id": "s1",
            "user.id": "u1",
            "llm.model_name": "m1",
            "promptreg.prompt.label": "production",
          },
        },
        { traceId: traceA, spanId: root, name: "root", start: at(0), end: at(100), attributes: { "session.id": "s1" } },
        {
          traceId: traceA,
          spanId: llm1,
          parentSpanId: tool,
          name: "llm-1",
          start: at(12),
          end: at(20),
          status: { code: 1 },
          attributes: {
            "openinference.span.kind": "LLM",
            "prompt.id": "p",
            "llm.prompt_template.version": "1.0.0",
            "session.id": "s1",
            "user.id": "u2",
            "llm.model_name": "m2",
          },
        },
        {
          traceId: traceA,
          spanId: tool,
          parentSpanId: root,
          name: "tool",
          start: at(10),
          end: at(25),
          attributes: { "openinference.span.kind": "TOOL" },
        },
        { traceId: traceA, parentSpanId: newSpanId(), name: "orphan", start: at(50), end: at(60) },
        ...Array.from({ length: 5 }, (_, i) => ({
          traceId: traceB,
          name: `b-${i}`,
          start: at(1000 + i),
          end: at(1001 + i),
          attributes: { "prompt.id": "p", "llm.prompt_template.version": i % 2 ? "1.0.0" : "2.0.0", "user.id": "u1" },
        })),
      ],
      "protobuf",
      key,
    );
    expect(res.status).toBe(200);
  });

  it("returns a trace as a tree: children nested and sorted by start time, orphans at the top", async () => {
    const res = await traceOf(traceA, key);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ traceId: traceA, spanCount: 5, truncated: false, annotations: [] });
    const shape = (n: { name: string; children: unknown[] }): unknown => ({
      [n.name]: n.children.map((c) => shape(c as never)),
    });
    expect(res.body.spans.map(shape)).toEqual([
      { root: [{ tool: [{ "llm-1": [] }] }, { "llm-2": [] }] },
      { orphan: [] },
    ]);
    expect(res.body.spans[0]).toMatchObject({ parentSpanId: null, latencyMs: 100 });
    expect((await traceOf(traceA.toUpperCase(), key)).status).toBe(200);
    expect((await traceOf("nothex", key)).status).toBe(422);
  });

  it("hides another project's traces and spans", async () => {
    expect((await traceOf(traceA, writerKey)).status).toBe(404);
    expect((await other.get(`/api/v1/spans?prompt=p`)).body.data).toEqual([]);
    expect((await mine.get(`/api/v1/spans?prompt=support%2Ftriage`)).body.data).toEqual([]);
  });

  it("filters spans", async () => {
    const names = async (query: string) => {
      const res = await mine.get(`/api/v1/spans?${query}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body.data.map((s: { name: string }) => s.name);
    };
    expect(await names("prompt=p&version=1.0.0&session=s1")).toEqual(["llm-2", "llm-1"]);
    expect(await names("status=error")).toEqual(["llm-2"]);
    expect(await names("failed=true")).toEqual(["llm-2"]);
    expect(await names("status=ok")).toEqual(["llm-1"]);
    expect(await names("user=u1&prompt=p")).toEqual(["b-4", "b-3", "b-2", "b-1", "b-0", "llm-2"]);
    expect(await names("model=m2")).toEqual(["llm-1"]);
    expect(await names("label=production")).toEqual(["llm-2"]);
    expect(await names("linkStatus=unknown_version")).toEqual(["b-4", "b-2", "b-0"]);
    expect(await names("linkStatus=linked&spanKind=llm")).toEqual(["llm-2", "llm-1"]);
    const from = new Date(Number(BigInt(at(12)) / 1_000_000n)).toISOString();
    const to = new Date(Number(BigInt(at(50)) / 1_000_000n)).toISOString();
    expect(await names(`from=${from}&to=${to}`)).toEqual(["llm-2", "llm-1"]);
    expect((await mine.get("/api/v1/spans?status=weird")).status).toBe(422);
    expect((await mine.get("/api/v1/spans?limit=501")).status).toBe(422);
    expect((await mine.get("/api/v1/spans?from=yesterday")).status).toBe(422);
  });

  it("pages newest first with an opaque cursor", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: request.Response = await mine.get(`/api/v1/spans?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.data.map((s: { name: string }) => s.name));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(4);
    expect(seen).toEqual(["b-4", "b-3", "b-2", "b-1", "b-0", "orphan", "llm-2", "llm-1", "tool", "root"]);
    expect((await mine.get("/api/v1/spans?cursor=garbage")).status).toBe(422);
    expect((await h.as(readerKey).get("/api/v1/spans?limit=1")).status).toBe(200);
  });
});
