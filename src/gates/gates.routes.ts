import { GateListSchema, GateSchema, GateVerdictSchema, PutGateBodySchema } from "@promptreg/client/contract";
import { Router } from "express";
import { z } from "zod";
import { principalOf } from "../auth/principal.js";
import { apiRoute, on } from "../http/api-route.js";
import { parse } from "../http/validate.js";
import type { GatesService } from "./gates.service.js";

const LabelParams = z.object({ label: z.string().min(1).max(64) });
const CheckQuery = z.strictObject({
  prompt: z.string().min(1).max(500),
  version: z.string().min(1).max(64),
});

const tag = "gates";
export const GATE_ROUTES = {
  list: apiRoute({
    method: "get",
    path: "/gates",
    tag,
    summary: "The project's label gates",
    responses: { 200: GateListSchema },
  }),
  get: apiRoute({
    method: "get",
    path: "/gates/:label",
    tag,
    summary: "One label's gate",
    params: LabelParams,
    responses: { 200: GateSchema },
  }),
  put: apiRoute({
    method: "put",
    path: "/gates/:label",
    tag,
    summary: "Gate a label: moving it needs a finished experiment with no significant regression (admin)",
    description:
      "A move of the label (PUT of the label, a publish or push with the label) to a version needs the newest finished experiment of that version against what the label holds, on the dataset's latest version, with every evaluator of the gate, to show no significant regression (McNemar's exact test at `alpha`). Otherwise it is a 409 `gate_failed` naming the missing or failed experiment; an admin may pass `{override: true, reason}`. A rollback is never gated.",
    params: LabelParams,
    body: PutGateBodySchema,
    responses: { 200: GateSchema },
  }),
  remove: apiRoute({
    method: "delete",
    path: "/gates/:label",
    tag,
    summary: "Remove a label's gate (admin)",
    params: LabelParams,
    responses: { 204: null },
  }),
  check: apiRoute({
    method: "get",
    path: "/gates/:label/check",
    tag,
    summary: "What the gate would say now of moving a prompt's label to a version (moves nothing)",
    params: LabelParams,
    query: CheckQuery,
    responses: { 200: GateVerdictSchema },
  }),
};

export function gateRoutes(gates: GatesService): Router {
  const r = Router();
  on(r, GATE_ROUTES.list, async (_req, res) => {
    res.json({ data: await gates.list(principalOf(res)) });
  });
  on(r, GATE_ROUTES.get, async (req, res) => {
    const { label } = parse(LabelParams, req.params, "params");
    res.json(await gates.get(principalOf(res), label));
  });
  on(r, GATE_ROUTES.put, async (req, res) => {
    const { label } = parse(LabelParams, req.params, "params");
    res.json(await gates.put(principalOf(res), label, parse(PutGateBodySchema, req.body)));
  });
  on(r, GATE_ROUTES.remove, async (req, res) => {
    const { label } = parse(LabelParams, req.params, "params");
    await gates.remove(principalOf(res), label);
    res.status(204).end();
  });
  on(r, GATE_ROUTES.check, async (req, res) => {
    const { label } = parse(LabelParams, req.params, "params");
    res.json(await gates.check(principalOf(res), label, parse(CheckQuery, req.query, "query")));
  });
  return r;
}
