// The worker thread of otlp-decoder.ts: decodes one OTLP request at a time and prepares its batch (span-batch.ts).
// The answer is a few byte arrays, moved to the main thread rather than copied: taking it costs the event loop
// nothing however many spans it holds.
import { parentPort } from "node:worker_threads";
import { AppError } from "../http/errors.js";
import { decodeRequest, type OtlpEncoding } from "./otlp.js";
import { prepareBatch, type BatchLimits, type SpanBatch } from "./span-batch.js";

export type DecodeJob = { body: Uint8Array; encoding: OtlpEncoding; limits: BatchLimits };
export type DecodeReply =
  | { kind: "batch"; batch: SpanBatch }
  | { kind: "refused"; code: "bad_request" | "payload_too_large"; message: string }
  | { kind: "failed"; error: { name: string; message: string; stack?: string } };

const port = parentPort!;

port.on("message", (job: DecodeJob) => {
  let batch: SpanBatch;
  try {
    const body = Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength);
    batch = prepareBatch(decodeRequest(body, job.encoding), job.limits);
  } catch (err) {
    // A request refused for what it is (400, 413) is the client's to hear; anything else is a bug, for the server's log.
    if (err instanceof AppError && (err.code === "bad_request" || err.code === "payload_too_large"))
      port.postMessage({ kind: "refused", code: err.code, message: err.message } satisfies DecodeReply);
    else {
      const e = err as Error;
      port.postMessage({
        kind: "failed",
        error: { name: e.name, message: e.message, stack: e.stack },
      } satisfies DecodeReply);
    }
    return;
  }
  const buffers = [batch.origins, ...batch.chunks.map((c) => c.rows)]
    .filter((b): b is Uint8Array => b !== null)
    .map((b) => b.buffer as ArrayBuffer);
  port.postMessage({ kind: "batch", batch } satisfies DecodeReply, buffers);
});
