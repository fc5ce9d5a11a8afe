// What the OTLP/HTTP receiver refuses, and how it answers: undecodable bodies, other media types, bodies over the
// limit (a gzip bomb, a sender still writing), bad spans in a good batch, keys and roles, and no slot free.
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { OTLPTraceExporter as HttpJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { describe, expect, it } from "vitest";
import { holdSlot } from "./helpers/gate.js";
import {
  CONTENT_TYPE,
  decodeProtobufResponse,
  heldOtlpRequest,
  newSpanId,
  newTraceId,
  otlpJson,
  otlpProtobuf,
} from "./helpers/otlp.js";
import { exportSpans, sdkTracer } from "./helpers/sdk.js";
import {
  countSpans,
  h,
  json,
  postOtlp,
  readerKey,
  receiverWith,
  send,
  useTraceReceiver,
  writerKey,
} from "./helpers/trace-receiver.js";

useTraceReceiver();

describe("OTLP/HTTP errors", () => {
  it("refuses an undecodable body with 400 and a Status in the request's encoding, storing nothing", async () => {
    const before = await h.database.prisma.span.count();
    const badJson = await postOtlp('{"resourceSpans": [', CONTENT_TYPE.json);
    expect(badJson.status).toBe(400);
    expect(json(badJson)).toMatchObject({ code: 3, message: expect.stringMatching(/undecodable JSON/) });
    const notAList = await postOtlp('{"resourceSpans": {"a": 1}}', CONTENT_TYPE.json);
    expect(notAList.status).toBe(400);
    const badProto = await postOtlp(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]), CONTENT_TYPE.protobuf);
    expect(badProto.status).toBe(400);
    expect(badProto.headers.get("content-type")).toMatch(/^application\/x-protobuf/);
    const badGzip = await postOtlp("not gzip at all", CONTENT_TYPE.json, { contentEncoding: "gzip" });
    expect(badGzip.status).toBe(400);
    expect(await h.database.prisma.span.count()).toBe(before);
  });

  it("refuses other content types and encodings with 415 and a JSON Status", async () => {
    const res = await postOtlp("x", "text/plain");
    expect(res.status).toBe(415);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(json(res)).toMatchObject({
      code: 3,
      message: expect.stringMatching(/application\/x-protobuf or application\/json/),
    });
    const brotli = await postOtlp("{}", CONTENT_TYPE.json, { contentEncoding: "br" });
    expect(brotli.status).toBe(415);
  });

  it("refuses a body over the limit after decompression with 413 (a gzip bomb), storing nothing", async () => {
    const small = await receiverWith({ otlpMaxBytes: 4096 });
    try {
      const traceId = newTraceId();
      const padded = otlpJson([{ traceId, attributes: { pad: "x".repeat(1_000_000) } }]);
      expect(gzipSync(padded).length).toBeLessThan(4096);
      const bomb = await postOtlp(padded, CONTENT_TYPE.json, { url: small.url, gzip: true });
      expect(bomb.status).toBe(413);
      expect(json(bomb)).toMatchObject({
        code: 8,
        message: expect.stringMatching(/exceeds 4096 bytes after decompression/),
      });
      const plain = await postOtlp(
        otlpProtobuf([{ traceId, attributes: { pad: "x".repeat(10_000) } }]),
        CONTENT_TYPE.protobuf,
        { url: small.url },
      );
      expect(plain.status).toBe(413);
      expect(await countSpans([traceId])).toBe(0);
      expect((await postOtlp(otlpJson([{ traceId }]), CONTENT_TYPE.json, { url: small.url, gzip: true })).status).toBe(
        200,
      );
    } finally {
      await small.close();
    }
  });

  it("answers a sender still writing a body over the limit with its 413, never a reset: fetch and the official exporter", async () => {
    const small = await receiverWith({ otlpMaxBytes: 64 * 1024 });
    try {
      // A body streamed in pieces, its size unknown in advance: the limit is passed while it is still being sent.
      const slowBody = () =>
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            await new Promise((resolve) => setTimeout(resolve, 2));
            controller.enqueue(new Uint8Array(16 * 1024).fill(0x20));
            if (++sent === 64) controller.close();
          },
        });
      let sent = 0;
      for (let i = 0; i < 10; i++) {
        sent = 0;
        const res = await fetch(small.url, {
          method: "POST",
          headers: { Authorization: `Bearer ${writerKey}`, "Content-Type": CONTENT_TYPE.json },
          body: slowBody(),
          duplex: "half",
        } as RequestInit);
        expect(res.status).toBe(413);
        await res.arrayBuffer();
      }
      // Declared too large: answered before the body is read, which is then read and dropped too.
      for (let i = 0; i < 5; i++) {
        const res = await postOtlp(Buffer.alloc(2 * 1024 * 1024, 0x20), CONTENT_TYPE.json, { url: small.url });
        expect(res.status).toBe(413);
      }
      // The official exporter, gzip: a span too large once decompressed is a 413 it does not retry.
      const exporter = new HttpJsonExporter({
        url: small.url,
        headers: { Authorization: `Bearer ${writerKey}` },
        compression: "gzip" as never,
      });
      const { tracer, take } = sdkTracer();
      const span = tracer.startSpan("huge");
      span.setAttribute("pad", randomBytes(200 * 1024).toString("base64"));
      span.end();
      const result = await exportSpans(exporter, take());
      expect(result.code).toBe(1);
      expect(result.error).toMatchObject({ code: 413 });
      await exporter.shutdown();
    } finally {
      await small.close();
    }
  });

  it("keeps the good spans of a batch and reports the bad one through partial_success", async () => {
    for (const encoding of ["json", "protobuf"] as const) {
      const traceId = newTraceId();
      const res = await send(
        [{ traceId }, { traceId: "00000000000000000000000000000000" }, { traceId, parentSpanId: newSpanId() }],
        encoding,
      );
      expect(res.status).toBe(200);
      const body = encoding === "json" ? json(res) : decodeProtobufResponse(res.body);
      expect(body.partialSuccess).toMatchObject({
        rejectedSpans: "1",
        errorMessage: expect.stringMatching(/1 span\(s\) rejected: .*invalid traceId/),
      });
      expect(await countSpans([traceId])).toBe(2);
    }
    const traceId = newTraceId();
    const body = JSON.parse(otlpJson([{ traceId }, { traceId }, { traceId }, { traceId }]));
    const spans = body.resourceSpans[0].scopeSpans[0].spans;
    spans[0].spanId = "xyz";
    delete spans[1].startTimeUnixNano;
    spans[2].endTimeUnixNano = "1";
    const res = await postOtlp(JSON.stringify(body), CONTENT_TYPE.json);
    expect(json(res).partialSuccess.rejectedSpans).toBe("3");
    expect(json(res).partialSuccess.errorMessage).toMatch(
      /invalid spanId.*missing startTimeUnixNano.*endTimeUnixNano is before/,
    );
    expect(await countSpans([traceId])).toBe(1);
  });

  it("needs a key (401) with the write role (403), answering with a Status", async () => {
    const traceId = newTraceId();
    const anonymous = await postOtlp(otlpJson([{ traceId }]), CONTENT_TYPE.json, { key: null });
    expect(anonymous.status).toBe(401);
    expect(json(anonymous)).toMatchObject({ code: 16 });
    const reader = await send([{ traceId }], "protobuf", readerKey);
    expect(reader.status).toBe(403);
    expect(reader.headers.get("content-type")).toMatch(/^application\/x-protobuf/);
    expect(await countSpans([traceId])).toBe(0);
  });

  it("refuses work beyond the in-flight limit with 503 and Retry-After, storing nothing", async () => {
    const closed = await receiverWith({ ingestMaxInFlight: 0, ingestMaxQueued: 0 });
    try {
      const traceId = newTraceId();
      const res = await postOtlp(otlpJson([{ traceId }]), CONTENT_TYPE.json, { url: closed.url });
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
      expect(json(res)).toMatchObject({ code: 14, message: expect.stringMatching(/overloaded/) });
      expect(await countSpans([traceId])).toBe(0);
    } finally {
      await closed.close();
    }
  });

  it("with one slot and no queue, a second request is refused while the slot is taken, and served once it is free", async () => {
    const one = await receiverWith({ ingestMaxInFlight: 1, ingestMaxQueued: 0 });
    try {
      // Another project's request holds the only slot.
      const otherTicket = one.gate.enter("another-project", "another-key");
      const other = holdSlot(otherTicket);
      await other.taken;
      const traceId = newTraceId();
      const second = await postOtlp(otlpJson([{ traceId }]), CONTENT_TYPE.json, { url: one.url });
      expect(second.status).toBe(503);
      expect(second.headers.get("retry-after")).toBe("1");
      other.free();
      await other.done;
      otherTicket.release();
      const third = await postOtlp(otlpJson([{ traceId }]), CONTENT_TYPE.json, { url: one.url });
      expect(third.status).toBe(200);
      expect(await countSpans([traceId])).toBe(1);
    } finally {
      await one.close();
    }
  });

  it("a sender still sending its body holds no slot: with one slot, another exporter is served meanwhile", async () => {
    // Four tickets, two per project.
    const one = await receiverWith({ ingestMaxInFlight: 1, ingestMaxQueued: 3 });
    try {
      const slowTrace = newTraceId();
      // Admitted (its handler reads the body) and then kept unfinished.
      const slow = heldOtlpRequest(one.server, writerKey, Buffer.from(otlpJson([{ traceId: slowTrace }])));
      await slow.holding;
      const traceId = newTraceId();
      const other = await postOtlp(otlpJson([{ traceId }]), CONTENT_TYPE.json, { url: one.url });
      expect(other.status).toBe(200);
      expect(await countSpans([traceId])).toBe(1);
      slow.finish();
      expect(await slow.status).toBe(200);
      expect(await countSpans([slowTrace])).toBe(1);
    } finally {
      await one.close();
    }
  });
});
