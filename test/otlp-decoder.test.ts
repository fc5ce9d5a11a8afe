// The OTLP decoder and the batch it prepares: jobs in order on the worker, what a caller sees when the decoder is
// closed mid-decode, chunks bounded by rows and bytes, each resource and scope once, and the stored-size limit.
// (That large bodies store the same spans, through the app, is in traces-receiver.test.ts; that they leave the event
// loop free, in dos.test.ts.)
import { afterEach, describe, expect, it } from "vitest";
import { createOtlpDecoder, type OtlpDecoder } from "../src/traces/otlp-decoder.js";
import type { BatchLimits, SpanBatch } from "../src/traces/span-batch.js";
import { silentLogger } from "./helpers/harness.js";
import { newTraceId, otlpJson, otlpProtobuf } from "./helpers/otlp.js";

let decoder: OtlpDecoder | undefined;
afterEach(async () => {
  await decoder?.close();
  decoder = undefined;
});

const LIMITS: BatchLimits = { chunkRows: 1000, chunkBytes: 4 << 20, maxStoredBytes: 256 << 20 };
const onWorker = (limits: Partial<BatchLimits> = {}) =>
  (decoder = createOtlpDecoder({ logger: silentLogger, inlineMaxBytes: 0, limits: { ...LIMITS, ...limits } }));

const rowsOf = (batch: SpanBatch) =>
  batch.chunks.flatMap((c) => JSON.parse(Buffer.from(c.rows).toString()) as Record<string, unknown>[]);
const originsOf = (batch: SpanBatch) =>
  JSON.parse(Buffer.from(batch.origins!).toString()) as {
    resources: { hash: string; attributes: Record<string, unknown> }[];
    scopes: { hash: string; name: string }[];
  };

// Two million tiny objects in 32 MB of JSON: long enough to parse that closing finds it running.
const slowBody = () => Buffer.from(`{"resourceSpans":[${'{"resource":{}},'.repeat(2_000_000)}{}]}`);
const small = (traceId: string) => Buffer.from(otlpJson([{ traceId, name: "after" }]));

it("jobs queue behind each other on the one worker and each gets its own spans", async () => {
  onWorker();
  const ids = Array.from({ length: 5 }, () => newTraceId());
  const results = await Promise.all(ids.map((id) => decoder!.prepare(small(id), "json")));
  expect(results.map((r) => rowsOf(r)[0]!.trace_id)).toEqual(ids);
});

it("closing refuses the decode in progress and the queued ones as unavailable", async () => {
  onWorker();
  const running = decoder!.prepare(slowBody(), "json").catch((err: unknown) => err);
  const queued = decoder!.prepare(small(newTraceId()), "json").catch((err: unknown) => err);
  await decoder!.close();
  const after = decoder!.prepare(small(newTraceId()), "json").catch((err: unknown) => err);
  for (const outcome of await Promise.all([running, queued, after]))
    expect(outcome).toMatchObject({ status: 503, message: "the trace receiver is shutting down" });
});

describe("the batch", () => {
  it("holds every span in order, in chunks of at most chunkRows, and moves the body to the worker", async () => {
    onWorker({ chunkRows: 1000 });
    const traceId = newTraceId();
    const body = Buffer.from(otlpJson(Array.from({ length: 2_345 }, (_, i) => ({ traceId, name: `s${i}` }))));
    const batch = await decoder!.prepare(body, "json");
    expect(batch.chunks.map((c) => c.count)).toEqual([1000, 1000, 345]);
    expect(rowsOf(batch).map((r) => r.name)).toEqual(Array.from({ length: 2_345 }, (_, i) => `s${i}`));
    expect(body.length).toBe(0);
  });

  it("cuts chunks at chunkBytes, a span larger than that alone in its own", async () => {
    onWorker({ chunkBytes: 20_000 });
    const traceId = newTraceId();
    const spans = [
      ...Array.from({ length: 30 }, (_, i) => ({
        traceId,
        name: `small-${i}`,
        attributes: { text: "x".repeat(2_000) },
      })),
      { traceId, name: "huge", attributes: { text: "y".repeat(50_000) } },
      { traceId, name: "last" },
    ];
    const batch = await decoder!.prepare(otlpProtobuf(spans), "protobuf");
    for (const chunk of batch.chunks)
      expect(
        chunk.count === 1 || chunk.rows.byteLength <= 20_000,
        `${chunk.count} rows, ${chunk.rows.byteLength} B`,
      ).toBe(true);
    expect(batch.chunks.find((c) => c.count === 1 && c.rows.byteLength > 50_000)).toBeDefined();
    expect(rowsOf(batch).map((r) => r.name)).toEqual(spans.map((s) => s.name));
  });

  it("keeps a resource shared by 1,000 spans once: the batch is about the size of the body", async () => {
    onWorker();
    const traceId = newTraceId();
    const body = otlpProtobuf(
      Array.from({ length: 1000 }, () => ({ traceId })),
      { "service.name": "agent", blob: "r".repeat(400_000) },
    );
    const size = body.length;
    const batch = await decoder!.prepare(body, "protobuf");
    const origins = originsOf(batch);
    expect(origins.resources).toHaveLength(1);
    expect(origins.resources[0]!.attributes).toMatchObject({ "service.name": "agent" });
    expect(origins.scopes).toEqual([expect.objectContaining({ name: "test" })]);
    const rows = rowsOf(batch);
    expect(new Set(rows.map((r) => r.resource_hash))).toEqual(new Set([origins.resources[0]!.hash]));
    expect(new Set(rows.map((r) => r.scope_hash))).toEqual(new Set([origins.scopes[0]!.hash]));
    // Before, each of the 1,000 rows carried the 400 kB: 400 MB.
    expect(batch.bytes).toBeLessThan(3 * size);
  });

  it("gives equal resources one hash, whatever the order of their attributes", async () => {
    onWorker();
    const body = (resource: Parameters<typeof otlpJson>[1]) =>
      Buffer.from(otlpJson([{ traceId: newTraceId() }], resource));
    const a = await decoder!.prepare(body({ x: "1", y: { b: 2, a: 1 } }), "json");
    const b = await decoder!.prepare(body({ y: { a: 1, b: 2 }, x: "1" }), "json");
    expect(originsOf(a).resources[0]!.hash).toBe(originsOf(b).resources[0]!.hash);
  });

  it("refuses a request that would store more than maxStoredBytes, whole, as 413", async () => {
    onWorker({ maxStoredBytes: 100_000 });
    const traceId = newTraceId();
    const body = otlpJson(Array.from({ length: 200 }, () => ({ traceId, attributes: { text: "z".repeat(1_000) } })));
    await expect(decoder!.prepare(Buffer.from(body), "json")).rejects.toMatchObject({
      status: 413,
      message: expect.stringMatching(/more than 100000 bytes .*PROMPTREG_OTLP_MAX_STORED_BYTES/),
    });
    // The same limit on the calling thread, for a small body.
    decoder = createOtlpDecoder({ logger: silentLogger, limits: { ...LIMITS, maxStoredBytes: 1_000 } });
    await expect(decoder.prepare(small(traceId), "json")).rejects.toMatchObject({ status: 413 });
  });
});
