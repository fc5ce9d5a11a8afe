// /api/v1 routes over stored traces: annotations in, one trace as a tree, and a filtered list of spans.
import { Router } from "express";
import { z } from "zod";
import { principalOf } from "../auth/principal.js";
import { apiRoute, on } from "../http/api-route.js";
import { parse } from "../http/validate.js";
import {
  ANNOTATION_KINDS,
  AnnotationListSchema,
  LINK_STATUSES,
  SPAN_STATUSES,
  SpanListSchema,
  TraceSchema,
} from "@promptreg/client/contract";
import type { AnnotationsService } from "./annotations.service.js";
import { SPAN_ID_HEX_LENGTH, TRACE_ID_HEX_LENGTH, normaliseHexId } from "./ids.js";
import { cleanText } from "./otlp.js";
import type { TracesService } from "./traces.service.js";

const MAX_ANNOTATIONS = 1000;

const hexId = (hexLength: number) =>
  z.string().transform((value, ctx) => {
    const id = normaliseHexId(value, hexLength);
    if (id === null) ctx.addIssue({ code: "custom", message: `must be ${hexLength} hex digits, not all zero` });
    return id ?? value;
  });

const text = (max: number) => z.string().max(max).transform(cleanText);

const AnnotationSchema = z
  .object({
    traceId: hexId(TRACE_ID_HEX_LENGTH),
    spanId: hexId(SPAN_ID_HEX_LENGTH).nullish(),
    name: text(200).pipe(z.string().trim().min(1, "must not be empty")),
    kind: z.enum(ANNOTATION_KINDS),
    score: z.number().nullish(),
    label: text(200).nullish(),
    passed: z.boolean().nullish(),
    comment: text(10_000).nullish(),
  })
  .refine((a) => a.score != null || a.label != null || a.passed != null || a.comment != null, {
    message: "an annotation needs a score, label, passed or comment",
  });

const AnnotationsBody = z.object({ annotations: z.array(AnnotationSchema).min(1).max(MAX_ANNOTATIONS) });

const TraceParams = z.object({ traceId: hexId(TRACE_ID_HEX_LENGTH) });

const filter = z.string().min(1).max(512).optional();
const SpansQuery = z.object({
  prompt: filter,
  version: filter,
  label: filter,
  status: z.enum(SPAN_STATUSES).optional(),
  failed: z
    .enum(["true", "false"])
    .transform((v) => v === "true")
    .optional(),
  session: filter,
  user: filter,
  model: filter,
  source: filter,
  linkStatus: z.enum(LINK_STATUSES).optional(),
  spanKind: filter,
  experiment: filter,
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  cursor: z.string().max(512).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

const tag = "traces";
export const TRACE_ROUTES = {
  annotate: apiRoute({
    method: "post",
    path: "/annotations",
    tag,
    summary: "Record outcomes of traces or spans (a value sent again replaces the earlier one)",
    body: AnnotationsBody,
    responses: { 200: AnnotationListSchema },
  }),
  trace: apiRoute({
    method: "get",
    path: "/traces/:traceId",
    tag,
    summary: "One trace as a tree of spans, with its annotations",
    params: TraceParams,
    responses: { 200: TraceSchema },
  }),
  spans: apiRoute({
    method: "get",
    path: "/spans",
    tag,
    summary: "Spans, newest first, filtered",
    query: SpansQuery,
    responses: { 200: SpanListSchema },
  }),
};

export function traceRoutes(traces: TracesService, annotations: AnnotationsService): Router {
  const r = Router();

  on(r, TRACE_ROUTES.annotate, async (req, res) => {
    const body = parse(AnnotationsBody, req.body);
    res.json({ data: await annotations.upsert(principalOf(res), body.annotations) });
  });

  on(r, TRACE_ROUTES.trace, async (req, res) => {
    const { traceId } = parse(TraceParams, req.params, "params");
    res.json(await traces.getTrace(principalOf(res), traceId));
  });

  on(r, TRACE_ROUTES.spans, async (req, res) => {
    res.json(await traces.listSpans(principalOf(res), parse(SpansQuery, req.query, "query")));
  });

  return r;
}
