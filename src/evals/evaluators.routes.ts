import { Router } from "express";
import { z } from "zod";
import {
  BackfillSchema,
  EvaluationPreviewSchema,
  EvaluatorListSchema,
  EvaluatorResultsSchema,
  EvaluatorSchema,
} from "@promptreg/client/contract";
import { principalOf } from "../auth/principal.js";
import { apiRoute, on } from "../http/api-route.js";
import { parse } from "../http/validate.js";
import { DefinitionSchema, EvaluatorBodySchema, evaluatorName } from "./definition.js";
import { BACKFILL_LIMITS, type EvaluatorsService, PREVIEW_LIMITS } from "./evaluators.service.js";

const NameParams = z.object({ name: evaluatorName });
const CreateBody = EvaluatorBodySchema;
// A PUT replaces the whole definition; the name is the path's (sent again, it must be the same).
const ReplaceBody = EvaluatorBodySchema.extend({ name: evaluatorName.optional() });
const PreviewBody = z.strictObject({
  /** A definition to try; without it, the saved one. */
  definition: DefinitionSchema.optional(),
  limit: z.int().min(1).max(PREVIEW_LIMITS.max).default(PREVIEW_LIMITS.default),
});
// Years 1970 to 9999: a time the database and JavaScript both hold (a span's time is never before 1970).
const time = z.iso.datetime({ offset: true }).refine((t) => {
  const ms = Date.parse(t);
  return ms >= 0 && ms < Date.UTC(10_000, 0, 1);
}, "must be between 1970 and 9999");
const BackfillBody = z
  .strictObject({
    from: time,
    to: time,
    limit: z.int().min(1).max(BACKFILL_LIMITS.max).default(BACKFILL_LIMITS.default),
  })
  .refine((b) => Date.parse(b.from) < Date.parse(b.to), { path: ["to"], message: "must be after from" });
const ResultsQuery = z.object({
  /** Comma-separated prompt versions; all when absent. */
  versions: z
    .string()
    .max(2_000)
    .transform((v) => v.split(",").filter((x) => x !== ""))
    .optional(),
  from: time.optional(),
  to: time.optional(),
  revision: z.coerce.number().int().min(1).optional(),
});

const tag = "evaluators";
export const EVALUATOR_ROUTES = {
  list: apiRoute({
    method: "get",
    path: "/evaluators",
    tag,
    summary: "The project's evaluators, with their current revision's results",
    responses: { 200: EvaluatorListSchema },
  }),
  create: apiRoute({
    method: "post",
    path: "/evaluators",
    tag,
    summary: "Add an evaluator (revision 1)",
    description:
      '`config` is the kind\'s own: json `{}`, json_schema `{schema}`, regex `{pattern, flags?}`, contains and not_contains `{values, caseSensitive?}`, length `{min?, max?}`, llm_judge `{judgePrompt: "evals/helpful@production", connection, threshold?}`.',
    body: CreateBody,
    responses: { 201: EvaluatorSchema },
  }),
  get: apiRoute({
    method: "get",
    path: "/evaluators/:name",
    tag,
    summary: "One evaluator",
    params: NameParams,
    responses: { 200: EvaluatorSchema },
  }),
  replace: apiRoute({
    method: "put",
    path: "/evaluators/:name",
    tag,
    summary: "Replace an evaluator's definition",
    description:
      "A change to kind, target, sampleRate or config makes a new revision; enabled and dailyBudget change the current one.",
    params: NameParams,
    body: ReplaceBody,
    responses: { 200: EvaluatorSchema },
  }),
  remove: apiRoute({
    method: "delete",
    path: "/evaluators/:name",
    tag,
    summary: "Delete an evaluator, its revisions and its results",
    params: NameParams,
    responses: { 204: null },
  }),
  preview: apiRoute({
    method: "post",
    path: "/evaluators/:name/preview",
    tag,
    summary: "Run a definition (saved or not) on the latest matching spans, storing nothing",
    params: NameParams,
    body: PreviewBody,
    responses: { 200: EvaluationPreviewSchema },
  }),
  results: apiRoute({
    method: "get",
    path: "/evaluators/:name/results",
    tag,
    summary: "Pass rates and status counts of one revision's results, per prompt version",
    params: NameParams,
    query: ResultsQuery,
    responses: { 200: EvaluatorResultsSchema },
  }),
  startBackfill: apiRoute({
    method: "post",
    path: "/evaluators/:name/backfill",
    tag,
    summary: "Evaluate past spans in a time range (at most `limit`)",
    params: NameParams,
    body: BackfillBody,
    responses: { 202: BackfillSchema },
  }),
  backfill: apiRoute({
    method: "get",
    path: "/evaluators/:name/backfill",
    tag,
    summary: "The evaluator's latest backfill and its progress",
    params: NameParams,
    responses: { 200: BackfillSchema },
  }),
  cancelBackfill: apiRoute({
    method: "delete",
    path: "/evaluators/:name/backfill",
    tag,
    summary: "Cancel the evaluator's latest backfill",
    params: NameParams,
    responses: { 200: BackfillSchema },
  }),
};

export function evaluatorRoutes(evaluators: EvaluatorsService): Router {
  const r = Router();

  on(r, EVALUATOR_ROUTES.list, async (_req, res) => {
    res.json({ data: await evaluators.list(principalOf(res)) });
  });

  on(r, EVALUATOR_ROUTES.create, async (req, res) => {
    res.status(201).json(await evaluators.create(principalOf(res), parse(CreateBody, req.body)));
  });

  on(r, EVALUATOR_ROUTES.get, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    res.json(await evaluators.get(principalOf(res), name));
  });

  on(r, EVALUATOR_ROUTES.replace, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    const { name: _same, ...body } = parse(
      ReplaceBody.refine((b) => b.name === undefined || b.name === name, {
        path: ["name"],
        message: `must be the evaluator's name in the path ('${name}'); an evaluator cannot be renamed`,
      }),
      req.body,
    );
    res.json(await evaluators.replace(principalOf(res), name, body));
  });

  on(r, EVALUATOR_ROUTES.remove, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    await evaluators.remove(principalOf(res), name);
    res.status(204).end();
  });

  on(r, EVALUATOR_ROUTES.preview, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    const body = parse(PreviewBody, req.body);
    res.json(await evaluators.preview(principalOf(res), name, body.definition, body.limit));
  });

  on(r, EVALUATOR_ROUTES.results, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    const q = parse(ResultsQuery, req.query, "query");
    res.json(
      await evaluators.results(principalOf(res), name, {
        versions: q.versions?.length ? q.versions : null,
        from: q.from ? new Date(q.from) : null,
        to: q.to ? new Date(q.to) : null,
        revision: q.revision ?? null,
      }),
    );
  });

  on(r, EVALUATOR_ROUTES.startBackfill, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    const body = parse(BackfillBody, req.body);
    res.status(202).json(
      await evaluators.startBackfill(principalOf(res), name, {
        from: new Date(body.from),
        to: new Date(body.to),
        limit: body.limit,
      }),
    );
  });

  on(r, EVALUATOR_ROUTES.backfill, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    res.json(await evaluators.backfill(principalOf(res), name));
  });

  on(r, EVALUATOR_ROUTES.cancelBackfill, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    res.json(await evaluators.cancelBackfill(principalOf(res), name));
  });

  return r;
}
