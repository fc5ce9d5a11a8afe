// Annotations on traces and spans: upserted, accepted before their spans, attached in the trace tree, refused whole
// when any is bad.
import { describe, expect, it } from "vitest";
import { newSpanId, newTraceId, nextNs } from "./helpers/otlp.js";
import { h, readerKey, send, traceOf, useTraceReceiver, writer } from "./helpers/trace-receiver.js";

useTraceReceiver();

describe("annotations", () => {
  it("upserts (latest wins), may arrive before their spans, and attach to them in the trace tree", async () => {
    const traceId = newTraceId();
    const root = newSpanId();
    const llm = newSpanId();
    const first = await writer.post("/api/v1/annotations", {
      annotations: [
        {
          traceId: traceId.toUpperCase(),
          spanId: llm.toUpperCase(),
          name: "thumbs",
          kind: "human",
          score: 0,
          comment: "wrong",
        },
        { traceId, name: "task solved", kind: "eval", passed: false },
        { traceId, spanId: llm, name: "json valid", kind: "code", passed: true },
      ],
    });
    expect(first.status).toBe(200);
    expect(first.body.data).toHaveLength(3);
    expect(first.body.data.find((a: { name: string }) => a.name === "thumbs")).toMatchObject({
      traceId,
      spanId: llm,
      score: 0,
    });
    expect((await traceOf(traceId)).status).toBe(404);

    const again = await writer.post("/api/v1/annotations", {
      annotations: [
        { traceId, spanId: llm, name: "thumbs", kind: "human", score: 1, label: "up" },
        { traceId, name: "task solved", kind: "eval", passed: true },
      ],
    });
    expect(again.status).toBe(200);
    expect(await h.database.prisma.annotation.count({ where: { traceId } })).toBe(3);

    await send([
      { traceId, spanId: root, name: "root", start: nextNs() },
      { traceId, spanId: llm, parentSpanId: root, name: "llm", start: nextNs() },
    ]);
    const tree = (await traceOf(traceId)).body;
    expect(tree.annotations).toEqual([
      expect.objectContaining({ name: "task solved", kind: "eval", spanId: null, passed: true }),
    ]);
    const child = tree.spans[0].children[0];
    expect(child.name).toBe("llm");
    expect(child.annotations).toHaveLength(2);
    expect(child.annotations.find((a: { name: string }) => a.name === "thumbs")).toMatchObject({
      kind: "human",
      score: 1,
      label: "up",
      comment: null,
    });
    expect(tree.spans[0].annotations).toEqual([]);
  });

  it("refuses malformed or all-zero ids and bad fields with 422, storing none of the batch", async () => {
    const traceId = newTraceId();
    const cases = [
      { traceId: "abc", name: "n", kind: "human", score: 1 },
      { traceId: "0".repeat(32), name: "n", kind: "human", score: 1 },
      { traceId, spanId: "0".repeat(16), name: "n", kind: "human", score: 1 },
      { traceId, spanId: "g".repeat(16), name: "n", kind: "human", score: 1 },
      { traceId, name: "n", kind: "robot", score: 1 },
      { traceId, name: "n", kind: "eval" },
      { traceId, name: "", kind: "eval", passed: true },
    ];
    for (const bad of cases) {
      const res = await writer.post("/api/v1/annotations", {
        annotations: [{ traceId, name: "good", kind: "eval", passed: true }, bad],
      });
      expect(res.status, JSON.stringify(bad)).toBe(422);
      expect(res.body.error.code).toBe("validation_error");
    }
    expect((await writer.post("/api/v1/annotations", { annotations: [] })).status).toBe(422);
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ traceId, name: `n${i}`, kind: "eval", passed: true }));
    expect((await writer.post("/api/v1/annotations", { annotations: tooMany })).status).toBe(422);
    expect(await h.database.prisma.annotation.count({ where: { traceId } })).toBe(0);
    const max = Array.from({ length: 1000 }, (_, i) => ({ traceId, name: `n${i}`, kind: "eval", passed: true }));
    expect((await writer.post("/api/v1/annotations", { annotations: max })).status).toBe(200);
    expect(await h.database.prisma.annotation.count({ where: { traceId } })).toBe(1000);
  });

  it("needs the write role", async () => {
    const res = await h
      .as(readerKey)
      .post("/api/v1/annotations", { annotations: [{ traceId: newTraceId(), name: "n", kind: "human", score: 1 }] });
    expect(res.status).toBe(403);
  });
});
