// The worker thread of otlp-decoder.ts: decodes one OTLP request at a time and sends the spans back in slices, so
// the main thread takes each slice as an event of its own instead of one structured-clone the size of the request.
import { parentPort } from "node:worker_threads";
import { AppError } from "../http/errors.js";
import { decodeRequest, type OtlpEncoding } from "./otlp.js";

export type DecodeJob = { body: Uint8Array; encoding: OtlpEncoding };
export type DecodeReply =
  | { kind: "spans"; spans: ReturnType<typeof decodeRequest>["spans"] }
  | { kind: "done"; rejected: number; reasons: string[] }
  | { kind: "failed"; code: "bad_request" | "internal"; message: string };

// About a megabyte of structured clone per message: a few milliseconds for the main thread to take.
const SLICE = 500;

const port = parentPort!;
port.on("message", ({ body, encoding }: DecodeJob) => {
  let reply: DecodeReply;
  try {
    const decoded = decodeRequest(Buffer.from(body.buffer, body.byteOffset, body.byteLength), encoding);
    for (let i = 0; i < decoded.spans.length; i += SLICE)
      port.postMessage({ kind: "spans", spans: decoded.spans.slice(i, i + SLICE) } satisfies DecodeReply);
    reply = { kind: "done", rejected: decoded.rejected, reasons: decoded.reasons };
  } catch (err) {
    reply =
      err instanceof AppError && err.code === "bad_request"
        ? { kind: "failed", code: "bad_request", message: err.message }
        : { kind: "failed", code: "internal", message: (err as Error).message };
  }
  port.postMessage(reply);
});
