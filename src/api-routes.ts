// Every route of /api/v1, as its module declares it: the one list that the OpenAPI document, the answer check of
// the tests and the reference page are made from. A route module registers its routes from the same declarations.
import { AUTH_ROUTES } from "./auth/auth.routes.js";
import { SESSION_ROUTES } from "./auth/session.routes.js";
import { COMPARE_ROUTES } from "./compare/compare.routes.js";
import { PRICE_ROUTES } from "./compare/prices.routes.js";
import { CONNECTION_ROUTES } from "./connections/connections.routes.js";
import { DATASET_ROUTES } from "./datasets/datasets.routes.js";
import { EVENT_ROUTES } from "./events/events.routes.js";
import { EVALUATOR_ROUTES } from "./evals/evaluators.routes.js";
import { EXPERIMENT_ROUTES } from "./experiments/experiments.routes.js";
import { GATE_ROUTES } from "./gates/gates.routes.js";
import { OPENAPI_ROUTE, openApiDocument, type RouteGroups } from "./http/openapi.js";
import { LABEL_ROUTES } from "./labels/labels.routes.js";
import { PLAYGROUND_ROUTES } from "./playground/playground.routes.js";
import { PROMPT_ROUTES } from "./prompts/prompts.routes.js";
import { RENDER_ROUTES } from "./render/render.routes.js";
import { ROLLOUT_ROUTES } from "./rollouts/rollouts.routes.js";
import { TRACE_ROUTES } from "./traces/traces.routes.js";

export const API_ROUTES: RouteGroups = {
  reference: { openapi: OPENAPI_ROUTE },
  session: SESSION_ROUTES,
  prompts: { ...PROMPT_ROUTES, ...RENDER_ROUTES, ...PLAYGROUND_ROUTES },
  labels: { ...LABEL_ROUTES, ...ROLLOUT_ROUTES },
  auth: AUTH_ROUTES,
  traces: TRACE_ROUTES,
  compare: COMPARE_ROUTES,
  prices: PRICE_ROUTES,
  connections: CONNECTION_ROUTES,
  evaluators: EVALUATOR_ROUTES,
  datasets: DATASET_ROUTES,
  experiments: EXPERIMENT_ROUTES,
  gates: GATE_ROUTES,
  events: EVENT_ROUTES,
};

let document: ReturnType<typeof openApiDocument> | undefined;
/** Built on first use (tens of milliseconds), then the same object. */
export const apiDocument = () => (document ??= openApiDocument(API_ROUTES));
