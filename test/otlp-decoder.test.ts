// The OTLP decoder's worker thread: jobs in order, and what a caller sees when the decoder is closed mid-decode.
// (That large bodies decode to the same spans, through the app, is in traces.test.ts; that they leave the event loop
// free, in dos.test.ts.)
import { afterEach, expect, it } from "vitest";
import { createOtlpDecoder, type OtlpDecoder } from "../src/traces/otlp-decoder.js";
import { silentLogger } from "./helpers/harness.js";
import { newTraceId, otlpJson } from "./helpers/otlp.js";

let decoder: OtlpDecoder | undefined;
afterEach(async () => {
  await decoder?.close();
  decoder = undefined;
});

// Two million tiny objects in 32 MB of JSON: long enough to parse that closing finds it running.
const slowBody = () => Buffer.from(`{"resourceSpans":[${'{"resource":{}},'.repeat(2_000_000)}{}]}`);
const small = (traceId: string) => Buffer.from(otlpJson([{ traceId, name: "after" }]));

it("jobs queue behind each other on the one worker and each gets its own spans", async () => {
  decoder = createOtlpDecoder({ logger: silentLogger, inlineMaxBytes: 0 });
  const ids = Array.from({ length: 5 }, () => newTraceId());
  const results = await Promise.all(ids.map((id) => decoder!.decode(small(id), "json")));
  expect(results.map((r) => r.spans[0]!.traceId)).toEqual(ids);
});

it("closing refuses the decode in progress and the queued ones as unavailable", async () => {
  decoder = createOtlpDecoder({ logger: silentLogger, inlineMaxBytes: 0 });
  const running = decoder.decode(slowBody(), "json").catch((err: unknown) => err);
  const queued = decoder.decode(small(newTraceId()), "json").catch((err: unknown) => err);
  await decoder.close();
  const after = decoder.decode(small(newTraceId()), "json").catch((err: unknown) => err);
  for (const outcome of await Promise.all([running, queued, after]))
    expect(outcome).toMatchObject({ status: 503, message: "the trace receiver is shutting down" });
});

it("hands a large request's spans back in slices, all of them, in order, and moves the body to the worker", async () => {
  decoder = createOtlpDecoder({ logger: silentLogger, inlineMaxBytes: 0 });
  const traceId = newTraceId();
  const body = Buffer.from(otlpJson(Array.from({ length: 2_345 }, (_, i) => ({ traceId, name: `s${i}` }))));
  const decoded = await decoder.decode(body, "json");
  expect(decoded.spans.map((s) => s.name)).toEqual(Array.from({ length: 2_345 }, (_, i) => `s${i}`));
  expect(body.length).toBe(0);
});
