// Spans made by the real OpenTelemetry SDK and sent by the official OTLP protobuf exporter, for tests that check
// what the receiver makes of what instrumentations really send.
import http from "node:http";
import { ROOT_CONTEXT, trace, type Context, type Span, type Tracer } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";
import type { Harness } from "./harness.js";
import { listen } from "./listen.js";

export interface Receiver {
  /** The app's /v1/traces on a real port. */
  url: string;
  /** Sends finished spans with the official protobuf exporter; resolves once the receiver answered. */
  send(spans: ReadableSpan[], key?: string): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(h: Harness): Promise<Receiver> {
  const listener = await listen(http.createServer(h.app));
  const url = `${listener.url}/v1/traces`;
  return {
    url,
    async send(spans, key = h.adminKey) {
      const exporter = new OTLPTraceExporter({ url, headers: { Authorization: `Bearer ${key}` } });
      const result = await exportSpans(exporter, spans);
      await exporter.shutdown();
      if (result.code !== 0) throw result.error ?? new Error("export failed");
    },
    close: listener.close,
  };
}

/** What an exporter reports for one export of `spans`. */
export const exportSpans = (exporter: SpanExporter, spans: ReadableSpan[]) =>
  new Promise<{ code: number; error?: Error }>((resolve) => exporter.export(spans, resolve));

export interface SdkTracer {
  tracer: Tracer;
  /** Spans ended since the last take(), in end order. */
  take(): ReadableSpan[];
}

export function sdkTracer(serviceName = "agent"): SdkTracer {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": serviceName }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  return {
    tracer: provider.getTracer("test"),
    take() {
      const spans = memory.getFinishedSpans();
      memory.reset();
      return spans;
    },
  };
}

/** The context of a child of `parent`. */
export const under = (parent: Span): Context => trace.setSpan(ROOT_CONTEXT, parent);
