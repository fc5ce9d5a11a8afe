// GET /events: the live-update stream of the caller's project (see events.service.ts).
import { Router } from "express";
import { principalOf } from "../auth/principal.js";
import { apiRoute, on } from "../http/api-route.js";
import { AppError } from "../http/errors.js";
import type { EventHub } from "./events.service.js";

export const EVENT_STREAM = "text/event-stream";
/** Ids are `<instance>.<sequence>`, far shorter: a longer header is not one this server sent. */
const MAX_LAST_EVENT_ID = 100;

export const EVENT_ROUTES = {
  stream: apiRoute({
    method: "get",
    path: "/events",
    tag: "events",
    summary: "The project's changes as they are committed, as server-sent events (any role)",
    description:
      "Server-sent events, one per change a client may hold a copy of: `version.published`, `label.moved`, `label.rolled_back`, `label.deleted`, `prompt.deleted` (the `data` is a JSON object, `LiveEventSchema` of the client's contract; the `event` field is its `type`), on every instance whichever instance committed the change. Each event has an `id`; reconnect with `Last-Event-ID` to get what followed it, from the last events this instance keeps (PROMPTREG_EVENTS_REPLAY). When that cannot be done exactly (the id is older, or from another instance, or notifications between instances were lost) a `reset` event says to refresh everything held. Comment lines are heartbeats (PROMPTREG_EVENTS_HEARTBEAT_MS). Past the streams an instance or a key may hold (PROMPTREG_EVENTS_MAX_STREAMS, PROMPTREG_EVENTS_MAX_PER_KEY), 503 with Retry-After; a reader that leaves more than PROMPTREG_EVENTS_MAX_BUFFER_BYTES unread is cut; a stream ends after 15 minutes, to be resumed.",
    rawAnswer: [EVENT_STREAM],
    responses: { 200: null },
  }),
};

export function eventRoutes(hub: EventHub): Router {
  const r = Router();
  on(r, EVENT_ROUTES.stream, (req, res) => {
    const principal = principalOf(res);
    const lastEventId = req.get("Last-Event-ID");
    if (lastEventId !== undefined && lastEventId.length > MAX_LAST_EVENT_ID)
      throw new AppError(
        "validation_error",
        `the Last-Event-ID header must be an id of this stream (at most ${MAX_LAST_EVENT_ID} characters)`,
      );
    hub.open(principal, res, lastEventId === "" ? undefined : lastEventId);
  });
  return r;
}
