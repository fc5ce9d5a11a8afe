import { Router } from "express";
import { z } from "zod";
import { CompareSchema, LabelNameSchema, RolloutArmSchema, TimeseriesSchema } from "@promptreg/client/contract";
import { principalOf } from "../auth/principal.js";
import { apiRoute, on } from "../http/api-route.js";
import { AppError } from "../http/errors.js";
import { parse } from "../http/validate.js";
import { NameParams } from "../prompts/params.js";
import type { CompareService } from "./compare.service.js";
import { parseFailure } from "./failure.js";

const time = z
  .string()
  .refine((s) => /^\d{4}-\d{2}-\d{2}/.test(s) && !Number.isNaN(Date.parse(s)), "must be an ISO 8601 time")
  .transform((s) => new Date(s));

const FiltersQuery = z.object({
  versions: z
    .string()
    .max(1_000)
    .transform((s) =>
      s
        .split(",")
        .map((v) => v.trim())
        .filter(Boolean),
    )
    .optional(),
  from: time.optional(),
  to: time.optional(),
  label: z.string().max(64).optional(),
  model: z.string().max(256).optional(),
  session: z.string().max(256).optional(),
  user: z.string().max(256).optional(),
  source: z.string().max(32).optional(),
  // A guarded rollout's calls (its id), and one of its arms.
  rollout: z.string().max(64).optional(),
  arm: RolloutArmSchema.optional(),
  failure: z.string().max(200).default("status"),
  threshold: z.coerce.number().finite().optional(),
  // Which revision of the evaluator named by `failure` judges; its current one by default.
  revision: z.coerce.number().int().min(1).max(1_000_000).optional(),
});

const CompareQuery = FiltersQuery.extend({
  unit: z.enum(["span", "trace"]).default("span"),
  minSample: z.coerce.number().int().min(1).max(1_000_000).default(100),
  // auto: exact up to EXACT_PERCENTILES_UP_TO compared spans, then from the rollups' histograms where they apply.
  percentiles: z.enum(["auto", "exact", "histogram"]).default("auto"),
});

const TimeseriesQuery = FiltersQuery.extend({
  bucket: z.enum(["5m", "1h", "1d"]).default("1h"),
  eventsLabel: LabelNameSchema.default("production"),
  // As for compare; 5m buckets are always exact (the rollups are hourly).
  percentiles: z.enum(["auto", "exact", "histogram"]).default("auto"),
});

function checkFromBeforeTo(from?: Date, to?: Date): void {
  if (from && to && from >= to)
    throw new AppError("validation_error", "bad time range: 'from' must be before 'to'", {
      issues: [{ path: "query.from", message: "must be before 'to'" }],
    });
}

const tag = "compare";
export const COMPARE_ROUTES = {
  compare: apiRoute({
    method: "get",
    path: "/prompts/:name/compare",
    tag,
    summary: "Compare the outcomes of versions (by default what production held before its last move and now)",
    params: NameParams,
    query: CompareQuery,
    responses: { 200: CompareSchema },
  }),
  timeseries: apiRoute({
    method: "get",
    path: "/prompts/:name/timeseries",
    tag,
    summary: "Versions' outcomes over time, with the moves of a label",
    params: NameParams,
    query: TimeseriesQuery,
    responses: { 200: TimeseriesSchema },
  }),
};

export function compareRoutes(compare: CompareService): Router {
  const r = Router();

  on(r, COMPARE_ROUTES.compare, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    const q = parse(CompareQuery, req.query, "query");
    checkFromBeforeTo(q.from, q.to);
    res.json(
      await compare.compare(principalOf(res), name, {
        ...q,
        failure: parseFailure(q.failure, q.threshold, q.revision),
      }),
    );
  });

  on(r, COMPARE_ROUTES.timeseries, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    const q = parse(TimeseriesQuery, req.query, "query");
    checkFromBeforeTo(q.from, q.to);
    res.json(
      await compare.timeseries(principalOf(res), name, {
        ...q,
        failure: parseFailure(q.failure, q.threshold, q.revision),
      }),
    );
  });

  return r;
}
