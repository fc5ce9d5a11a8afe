import {
  ExperimentComparisonSchema,
  ExperimentListSchema,
  ExperimentResultPageSchema,
  ExperimentSchema,
} from "@promptreg/client/contract";
import { Router } from "express";
import { z } from "zod";
import { principalOf } from "../auth/principal.js";
import { apiRoute, on } from "../http/api-route.js";
import { parse } from "../http/validate.js";
import { CreateExperimentBody, type ExperimentsService } from "./experiments.service.js";

const IdParams = z.object({ id: z.string().min(1).max(100) });
const ResultsQuery = z.strictObject({
  run: z.string().min(1).max(200).optional(),
  cursor: z.string().max(1_000).optional(),
  // An output may be 256K characters: a page holds at most 100 of them.
  limit: z.coerce.number().int().min(1).max(100).default(50),
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
    summary: "Run every item of a dataset version against several versions of a prompt, on the server",
    description:
      "Each (item, version) renders the version with the item's variables, calls the connection (the version's config gives the model and its parameters unless `model` overrides it) and evaluates the answer with `evaluators` (the project's, and the built-in exact_match and similarity). Runs in the background: GET the experiment for its progress.",
    body: CreateExperimentBody,
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
  cancel: apiRoute({
    method: "post",
    path: "/experiments/:id/cancel",
    tag,
    summary: "Stop a running experiment (results written stay)",
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
    res.status(201).json(await experiments.create(principalOf(res), parse(CreateExperimentBody, req.body)));
  });
  on(r, EXPERIMENT_ROUTES.get, async (req, res) => {
    const { id } = parse(IdParams, req.params, "params");
    res.json(await experiments.get(principalOf(res), id));
  });
  on(r, EXPERIMENT_ROUTES.results, async (req, res) => {
    const { id } = parse(IdParams, req.params, "params");
    res.json(await experiments.results(principalOf(res), id, parse(ResultsQuery, req.query, "query")));
  });
  on(r, EXPERIMENT_ROUTES.cancel, async (req, res) => {
    const { id } = parse(IdParams, req.params, "params");
    res.json(await experiments.cancel(principalOf(res), id));
  });
  on(r, EXPERIMENT_ROUTES.compare, async (req, res) => {
    const { id } = parse(IdParams, req.params, "params");
    res.json(await experiments.compare(principalOf(res), id, parse(CompareQuery, req.query, "query")));
  });
  return r;
}
