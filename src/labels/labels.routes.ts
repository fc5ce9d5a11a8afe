import { Router } from "express";
import { z } from "zod";
import { MoveLabelBodySchema, RollbackBodySchema } from "@promptreg/client/contract";
import { principalOf } from "../auth/principal.js";
import { parse } from "../http/validate.js";
import { NameParams, PageQuery } from "../prompts/params.js";
import type { LabelsService } from "./labels.service.js";

const LabelParams = NameParams.extend({ label: z.string().min(1).max(64) });
const DeleteQuery = z.object({ reason: z.string().max(2_000).optional() });

export function labelRoutes(labels: LabelsService): Router {
  const r = Router();

  r.get("/prompts/:name/labels", async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    res.json({ data: await labels.list(principalOf(res), name) });
  });

  r.put("/prompts/:name/labels/:label", async (req, res) => {
    const { name, label } = parse(LabelParams, req.params, "params");
    res.json(await labels.move(principalOf(res), name, label, parse(MoveLabelBodySchema, req.body)));
  });

  r.delete("/prompts/:name/labels/:label", async (req, res) => {
    const { name, label } = parse(LabelParams, req.params, "params");
    const { reason } = parse(DeleteQuery, req.query, "query");
    await labels.remove(principalOf(res), name, label, reason);
    res.status(204).end();
  });

  r.get("/prompts/:name/labels/:label/history", async (req, res) => {
    const { name, label } = parse(LabelParams, req.params, "params");
    res.json(await labels.history(principalOf(res), name, label, parse(PageQuery, req.query, "query")));
  });

  r.post("/prompts/:name/labels/:label/rollback", async (req, res) => {
    const { name, label } = parse(LabelParams, req.params, "params");
    res.json(await labels.rollback(principalOf(res), name, label, parse(RollbackBodySchema, req.body)));
  });

  return r;
}
