// The OTLP payload of the ingest benches: requests of LLM spans as our client's users send them (OpenInference keys,
// a prompt link, a little input text and the answer in `output.value`, which is what an evaluator reads), encoded as
// protobuf ExportTraceServiceRequests. bench/ingest.mjs and bench/ingest-evals.mjs send the same bytes.
import { randomBytes } from "node:crypto";
import { ExportTraceServiceRequest } from "../dist/src/traces/otlp-proto.js";

/** One realistic LLM span of trace `traceId`, the `i`th of its request, starting `i` ms after `t0` (ns). */
export function llmSpanSpec(traceId, i, t0, prompt) {
  const start = t0 + BigInt(i) * 1_000_000n;
  return {
    traceId,
    spanId: randomBytes(8),
    name: "ChatCompletion",
    kind: 3,
    startTimeUnixNano: start.toString(),
    endTimeUnixNano: (start + 850_123_456n).toString(),
    attributes: {
      "openinference.span.kind": "LLM",
      "prompt.id": prompt,
      "prompt.vendor": "promptreg",
      "llm.prompt_template.version": "1.0.0",
      "promptreg.prompt.label": "production",
      "promptreg.prompt.source": "cache",
      "llm.model_name": "gpt-4o-mini",
      "llm.provider": "openai",
      "llm.token_count.prompt": 412 + (i % 50),
      "llm.token_count.completion": 96,
      "session.id": `session-${i % 64}`,
      "user.id": `user-${i % 16}`,
      "input.value": `Customer question number ${i}: my order has not arrived yet, what should I do?`,
      "output.value": "I am sorry to hear that. Let me check the shipping status of your order right away.",
    },
    status: { code: 1 },
  };
}

/** `count` batches of `spans` span specs, each batch its own trace with fresh ids. */
export function llmSpanBatches(count, { spans, prompt }) {
  const t0 = BigInt(Date.now()) * 1_000_000n;
  return Array.from({ length: count }, () => {
    const traceId = randomBytes(16).toString("hex");
    return Array.from({ length: spans }, (_, i) => llmSpanSpec(traceId, i, t0, prompt));
  });
}

const anyValue = (v) => (typeof v === "string" ? { stringValue: v } : { intValue: v });

/** One ExportTraceServiceRequest body holding `specs` under one resource and scope. */
export function protobufBody(specs) {
  const message = ExportTraceServiceRequest.fromObject({
    resourceSpans: [
      {
        resource: { attributes: [{ key: "service.name", value: { stringValue: "bench-agent" } }] },
        scopeSpans: [
          {
            scope: { name: "bench" },
            spans: specs.map((s) => ({
              ...s,
              traceId: Buffer.from(s.traceId, "hex"),
              attributes: Object.entries(s.attributes).map(([key, value]) => ({ key, value: anyValue(value) })),
            })),
          },
        ],
      },
    ],
  });
  return Buffer.from(ExportTraceServiceRequest.encode(message).finish());
}

/**
 * Sends requests 0..total-1 with `sendOne(i)` from `senders` concurrent senders, each taking the next index when its
 * previous request is answered; the seconds it took.
 */
export async function runSenders(total, senders, sendOne) {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: senders }, async () => {
      while (next < total) await sendOne(next++);
    }),
  );
  return Number(process.hrtime.bigint() - started) / 1e9;
}
