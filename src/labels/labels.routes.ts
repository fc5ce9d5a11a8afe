import { Router } from "express";
import { z } from "zod";
import {
  LabelHistorySchema,
  LabelListSchema,
  LabelMoveResultSchema,
  MoveLabelBodySchema,
  RollbackBodySchema,
} from "@promptreg/client/contract";
import { principalOf } from "../auth/principal.js";
import { apiRoute, on } from "../http/api-route.js";
import { parse } from "../http/validate.js";
import { NameParams, PageQuery } from "../prompts/params.js";
import type { LabelsService } from "./labels.service.js";

const LabelParams = NameParams.extend({ label: z.string().min(1).max(64) });
const DeleteQuery = z.object({ reason: z.string().max(2_000).optional() });

const tag = "labels";
export const LABEL_ROUTES = {
  list: apiRoute({
    method: "get",
    path: "/prompts/:name/labels",
    tag,
    summary: "A prompt's labels and the versions they hold",
    params: NameParams,
    responses: { 200: LabelListSchema },
  }),
  move: apiRoute({
    method: "put",
    path: "/prompts/:name/labels/:label",
    tag,
    summary: "Point a label at a version (creating the label if needed)",
    params: LabelParams,
    body: MoveLabelBodySchema,
    responses: { 200: LabelMoveResultSchema },
  }),
  remove: apiRoute({
    method: "delete",
    path: "/prompts/:name/labels/:label",
    tag,
    summary: "Delete a label",
    params: LabelParams,
    query: DeleteQuery,
    responses: { 204: null },
  }),
  history: apiRoute({
    method: "get",
    path: "/prompts/:name/labels/:label/history",
    tag,
    summary: "A label's moves, newest first",
    params: LabelParams,
    query: PageQuery,
    responses: { 200: LabelHistorySchema },
  }),
  rollback: apiRoute({
    method: "post",
    path: "/prompts/:name/labels/:label/rollback",
    tag,
    summary: "Move a label back to the version it held before (or to `to`)",
    params: LabelParams,
    body: RollbackBodySchema,
    responses: { 200: LabelMoveResultSchema },
  }),
};

export function labelRoutes(labels: LabelsService): Router {
  const r = Router();

  on(r, LABEL_ROUTES.list, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    res.json({ data: await labels.list(principalOf(res), name) });
  });

  on(r, LABEL_ROUTES.move, async (req, res) => {
    const { name, label } = parse(LabelParams, req.params, "params");
    res.json(await labels.move(principalOf(res), name, label, parse(MoveLabelBodySchema, req.body)));
  });

  on(r, LABEL_ROUTES.remove, async (req, res) => {
    const { name, label } = parse(LabelParams, req.params, "params");
    const { reason } = parse(DeleteQuery, req.query, "query");
    await labels.remove(principalOf(res), name, label, reason);
    res.status(204).end();
  });

  on(r, LABEL_ROUTES.history, async (req, res) => {
    const { name, label } = parse(LabelParams, req.params, "params");
    res.json(await labels.history(principalOf(res), name, label, parse(PageQuery, req.query, "query")));
  });

  on(r, LABEL_ROUTES.rollback, async (req, res) => {
    const { name, label } = parse(LabelParams, req.params, "params");
    res.json(await labels.rollback(principalOf(res), name, label, parse(RollbackBodySchema, req.body)));
  });

  return r;
}
