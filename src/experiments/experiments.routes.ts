import {
  CreateExperimentBodySchema,
  ExperimentComparisonSchema,
  ExperimentListSchema,
  ExperimentReceivedPageSchema,
  ExperimentResultPageSchema,
  ExperimentResultsAnswerSchema,
  ExperimentResultsBodySchema,
  ExperimentSchema,
} from "@promptreg/client/contract";
import { Router } from "express";
import { z } from "zod";
import { principalOf } from "../auth/principal.js";
import { apiRoute, on } from "../http/api-route.js";
import { parse } from "../http/validate.js";
import type { ExperimentsService } from "./experiments.service.js";

const IdParams = z.object({ id: z.string().min(1).max(100) });
const ResultsQuery = z.strictObject({
  run: z.string().min(1).max(200).optional(),
  cursor: z.string().max(1_000).optional(),
  // An output may be 256K characters: a page holds at most 100 of them.
  limit: z.coerce.number().int().min(1).max(100).default(50),
});
const ReceivedQuery = z.strictObject({
  cursor: z.string().max(1_000).optional(),
  limit: z.coerce.number().int().min(1).max(5_000).default(1_000),
});
const CompareQuery = z.strictObject({
  baseline: z.string().min(1).max(200),
  candidate: z.string().min(1).max(200),
  alpha: z.coerce.number().gt(0).lt(1).default(0.05),
});

const tag = "experiments";
export const EXPERIMENT_ROUTES = {
  list: apiRoute({
    method: "get",
    path: "/experiments",
    tag,
    summary: "The project's latest experiments (100), newest first",
    responses: { 200: ExperimentListSchema },
  }),
  create: apiRoute({
    method: "post",
    path: "/experiments",
    tag,
    summary:
      "Run every item of a dataset version against several versions of a prompt, on the server or in the application",
    description:
      "A server run (`mode` server, the default): each (item, version) renders the version with the item's variables, calls the connection (the version's config gives the model and its parameters unless `model` overrides it) and evaluates the answer with `evaluators` (the project's, and the built-in exact_match and similarity), in the background: GET the experiment for its progress. A client run (`mode` client, no connection): the application runs each item with its own code and sends the outcomes to POST /experiments/:id/results, where `evaluators` judge them; `clientEvaluators` names the application's own evaluators, whose verdicts it sends.",
    body: CreateExperimentBodySchema,
    responses: { 201: ExperimentSchema },
  }),
  get: apiRoute({
    method: "get",
    path: "/experiments/:id",
    tag,
    summary: "One experiment: its state and each run's progress and pass rates",
    params: IdParams,
    responses: { 200: ExperimentSchema },
  }),
  results: apiRoute({
    method: "get",
    path: "/experiments/:id/results",
    tag,
    summary: "Results item by item (of one run with `run`, a version or reference)",
    params: IdParams,
    query: ResultsQuery,
    responses: { 200: ExperimentResultPageSchema },
  }),
  record: apiRoute({
    method: "post",
    path: "/experiments/:id/results",
    tag,
    summary:
      "Send a client run's outcomes (at most 100): each is judged by the experiment's evaluators and written once",
    description:
      "For a running client run only (409 otherwise). `run` is the run's id, version or reference. An item that already has a result is skipped; a batch naming a run, an item or a client evaluator the experiment does not have is refused whole (400, naming each).",
    params: IdParams,
    body: ExperimentResultsBodySchema,
    responses: { 200: ExperimentResultsAnswerSchema },
  }),
  received: apiRoute({
    method: "get",
    path: "/experiments/:id/received",
    tag,
    summary: "The (run, item) pairs with a result, or received and being judged: what a resumed client run skips",
    params: IdParams,
    query: ReceivedQuery,
    responses: { 200: ExperimentReceivedPageSchema },
  }),
  cancel: apiRoute({
    method: "post",
    path: "/experiments/:id/cancel",
    tag,
    summary: "Stop a running experiment (results written stay)",
    params: IdParams,
    responses: { 200: ExperimentSchema },
  }),
  resume: apiRoute({
    method: "post",
    path: "/experiments/:id/resume",
    tag,
    summary: "Run a cancelled experiment on: items without a result run again, the others never",
    params: IdParams,
    responses: { 200: ExperimentSchema },
  }),
  compare: apiRoute({
    method: "get",
    path: "/experiments/:id/compare",
    tag,
    summary: "Two runs compared item by item: McNemar's exact test per evaluator, the items that regressed",
    params: IdParams,
    query: CompareQuery,
    responses: { 200: ExperimentComparisonSchema },
  }),
};

export function experimentRoutes(experiments: ExperimentsService): Router {
  const r = Router();
  on(r, EXPERIMENT_ROUTES.list, async (_req, res) => {
    res.json({ data: await experiments.list(principalOf(res)) });
  });
  on(r, EXPERIMENT_ROUTES.create, async (req, res) => {
    res.status(201).json(await experiments.create(principalOf(res), parse(CreateExperimentBodySchema, req.body)));
  });
  on(r, EXPERIMENT_ROUTES.get, async (req, res) => {
    const { id } = parse(IdParams, req.params, "params");
    res.json(await experiments.get(principalOf(res), id));
  });
  on(r, EXPERIMENT_ROUTES.results, async (req, res) => {
    const { id } = parse(IdParams, req.params, "params");
    res.json(await experiments.results(principalOf(res), id, parse(ResultsQuery, req.query, "query")));
  });
  on(r, EXPERIMENT_ROUTES.record, async (req, res) => {
    const { id } = parse(IdParams, req.params, "params");
    res.json(await experiments.recordClientResults(principalOf(res), id, parse(ExperimentResultsBodySchema, req.body)));
  });
  on(r, EXPERIMENT_ROUTES.received, async (req, res) => {
    const { id } = parse(IdParams, req.params, "params");
    res.json(await experiments.received(principalOf(res), id, parse(ReceivedQuery, req.query, "query")));
  });
  on(r, EXPERIMENT_ROUTES.cancel, async (req, res) => {
    const { id } = parse(IdParams, req.params, "params");
    res.json(await experiments.cancel(principalOf(res), id));
  });
  on(r, EXPERIMENT_ROUTES.resume, async (req, res) => {
    const { id } = parse(IdParams, req.params, "params");
    res.json(await experiments.resume(principalOf(res), id));
  });
  on(r, EXPERIMENT_ROUTES.compare, async (req, res) => {
    const { id } = parse(IdParams, req.params, "params");
    res.json(await experiments.compare(principalOf(res), id, parse(CompareQuery, req.query, "query")));
  });
  return r;
}
