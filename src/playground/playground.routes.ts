// POST /prompts/:name/playground answers NDJSON (one JSON event a line), not server-sent events: the request is a POST
// with a JSON body, which the browser's EventSource cannot send, so SSE's one gain (reconnecting by itself) is out of
// reach, and a reconnect would call the model, and spend its budget, again. A line of JSON reads the same in the
// console's fetch reader, in a CLI and through `curl -N | jq`.
import type { PlaygroundEvent } from "@promptreg/client/contract";
import { PlaygroundBodySchema } from "@promptreg/client/contract";
import { Router } from "express";
import { principalOf } from "../auth/principal.js";
import { apiRoute, on } from "../http/api-route.js";
import { parse } from "../http/validate.js";
import { NameParams } from "../prompts/params.js";
import { parseRef } from "../prompts/refs.js";
import type { Playground } from "./playground.service.js";

export const NDJSON = "application/x-ndjson";

export const PLAYGROUND_ROUTES = {
  playground: apiRoute({
    method: "post",
    path: "/prompts/:name/playground",
    tag: "prompts",
    summary: "Render a version and stream a model connection's answer to it (write role)",
    description:
      "Renders as /render does (a missing variable is a 422, before any call), then calls the connection with `stream: true` under its limits. Everything refused or failed before the model answers is an error in the one error shape: an unknown connection 404, a full one 429, the model's 429 a 429, its other failures 502 `model_failed` (with the stored span's `traceId` and `spanId` in `details`). Once the model answers, the 200 is NDJSON, one event a line: `start` (version, connection, model, trace and span ids), `delta`s of text as they arrive, then `done` (output, latency, first-token time, prompt and completion tokens) or `error` (the model failed midway). Closing the connection cancels the model's call. The call is stored as an LLM span linked to the version, with `promptreg.prompt.source = playground`.",
    params: NameParams,
    body: PlaygroundBodySchema,
    rawAnswer: [NDJSON],
    responses: { 200: null },
  }),
};

export function playgroundRoutes(playground: Playground): Router {
  const r = Router();

  on(r, PLAYGROUND_ROUTES.playground, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    const body = parse(PlaygroundBodySchema, req.body);
    if (body.ref !== undefined) parseRef(body.ref, "body.ref");
    // The client gone (its connection closed before the answer was sent whole) cancels the model's call.
    const gone = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) gone.abort();
    });
    const call = await playground.open(principalOf(res), name, body, gone.signal);
    res.status(200);
    res.setHeader("Content-Type", `${NDJSON}; charset=utf-8`);
    res.setHeader("Cache-Control", "no-store");
    // A proxy that buffers answers (nginx does by default) would hold the stream back until its end.
    res.setHeader("X-Accel-Buffering", "no");
    const send = (event: PlaygroundEvent) => {
      if (!res.writableEnded && !res.destroyed) res.write(`${JSON.stringify(event)}\n`);
    };
    send(call.start);
    const last = await call.read((text) => send({ type: "delta", text }));
    send(last);
    res.end();
  });

  return r;
}
