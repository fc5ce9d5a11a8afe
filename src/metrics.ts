// Prometheus metrics of one app: HTTP traffic by route, what the trace receiver did with the spans it was sent,
// the resolve cache, and the process (event loop delay, heap, GC) from prom-client's default collectors. One
// registry per app, not prom-client's global one, so that two apps in a process (the tests) count apart.
import type { RequestHandler } from "express";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { EventHub, StreamEnd } from "./events/events.service.js";

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "promptreg_" });

  const requests = new Histogram({
    name: "promptreg_http_request_duration_seconds",
    help: "HTTP requests by method, route pattern and status code, and how long their answers took",
    labelNames: ["method", "route", "status"] as const,
    // From a cached resolve (well under a millisecond) to an OTLP batch on a busy embedded database (seconds).
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const spans = new Counter({
    name: "promptreg_otlp_spans_total",
    help: "Spans received over OTLP: stored, rejected (reported in partial_success) or duplicate (already stored)",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const shed = new Counter({
    name: "promptreg_otlp_requests_shed_total",
    help: "OTLP requests refused with 503 or 429 because the trace receiver, or the project's or key's share of it, was saturated",
    registers: [registry],
  });
  const chunks = new Histogram({
    name: "promptreg_ingest_chunk_duration_seconds",
    help: "Chunks of spans stored (one INSERT and its trace-link pass each), and how long each held the database",
    // On the embedded database a chunk also holds the event loop: the figure that bounds how long any request waits.
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  const resolves = new Counter({
    name: "promptreg_resolve_cache_total",
    help: "Prompt resolves answered from the in-process cache (hit) or from the database (miss)",
    labelNames: ["result"] as const,
    registers: [registry],
  });

  return {
    registry,
    /** Times every request; the route is the pattern matched (`/prompts/:name/resolve`), never the raw path. */
    middleware: ((req, res, next) => {
      const end = requests.startTimer();
      res.on("finish", () => {
        // Express leaves the matched route on the request. Without one (a 404, a console file, a request refused
        // before routing) the path is not used: it would make one series per URL anyone sends.
        const route = (req.route?.path as string | undefined) ?? "none";
        end({ method: req.method, route, status: String(res.statusCode) });
      });
      next();
    }) satisfies RequestHandler,
    spans(outcome: { stored: number; rejected: number; duplicate: number }) {
      for (const [name, n] of Object.entries(outcome)) if (n > 0) spans.inc({ outcome: name }, n);
    },
    shed: () => shed.inc(),
    ingestChunk: (seconds: number) => chunks.observe(seconds),
    resolve: (hit: boolean) => resolves.inc({ result: hit ? "hit" : "miss" }),
    /** The live-update streams open, and those ended by why (`slow`: cut for leaving too much unread). */
    watchStreams(hub: EventHub) {
      new Gauge({
        name: "promptreg_event_streams",
        help: "Live-update streams (GET /api/v1/events) open on this instance",
        registers: [registry],
        collect() {
          this.set(hub.size);
        },
      });
      const ended = new Counter({
        name: "promptreg_event_streams_ended_total",
        help: "Live-update streams ended: left (the client went), slow (cut: too much left unread), ended (by the server: key deleted, stream age, shutdown)",
        labelNames: ["reason"] as const,
        registers: [registry],
      });
      hub.lifecycle.on("closed", (why: StreamEnd) => ended.inc({ reason: why }));
    },
  };
}
