// The worker thread of otlp-decoder.ts: decodes one OTLP request at a time and hands the spans back in slices, one
// slice per request for more from the main thread. A slice is about a megabyte of structured clone, a few
// milliseconds to take; pulled one at a time, slices cannot pile up in the main thread's port while it is busy and
// then be taken all in one go.
import { parentPort } from "node:worker_threads";
import { AppError } from "../http/errors.js";
import { decodeRequest, type DecodedRequest, type OtlpEncoding } from "./otlp.js";

export type DecodeJob = { kind: "decode"; body: Uint8Array; encoding: OtlpEncoding } | { kind: "more" };
export type DecodeReply =
  | { kind: "spans"; spans: DecodedRequest["spans"] }
  | { kind: "done"; rejected: number; reasons: string[] }
  | { kind: "refused"; message: string }
  | { kind: "failed"; error: { name: string; message: string; stack?: string } };

const SLICE = 500;

const port = parentPort!;
let current: { decoded: DecodedRequest; next: number } | null = null;

const send = (reply: DecodeReply) => port.postMessage(reply);

function sendMore(): void {
  if (!current) return;
  const { decoded, next } = current;
  if (next < decoded.spans.length) {
    current.next += SLICE;
    send({ kind: "spans", spans: decoded.spans.slice(next, next + SLICE) });
    return;
  }
  current = null;
  send({ kind: "done", rejected: decoded.rejected, reasons: decoded.reasons });
}

port.on("message", (job: DecodeJob) => {
  if (job.kind === "more") return sendMore();
  try {
    current = {
      decoded: decodeRequest(Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength), job.encoding),
      next: 0,
    };
  } catch (err) {
    // A request the decoder refuses (400) is the client's to hear; anything else is a bug, for the server's log.
    if (err instanceof AppError && err.code === "bad_request") send({ kind: "refused", message: err.message });
    else {
      const e = err as Error;
      send({ kind: "failed", error: { name: e.name, message: e.message, stack: e.stack } });
    }
    return;
  }
  sendMore();
});
