import { Router } from "express";
import { z } from "zod";
import { RolloutActionBodySchema, RolloutSchema, StartRolloutBodySchema } from "@promptreg/client/contract";
import { principalOf } from "../auth/principal.js";
import { type ApiRoute, apiRoute, on } from "../http/api-route.js";
import { parse } from "../http/validate.js";
import { NameParams } from "../prompts/params.js";
import type { RolloutAction, RolloutsService } from "./rollouts.service.js";

const LabelParams = NameParams.extend({ label: z.string().min(1).max(64) });
const PATH = "/prompts/:name/labels/:label/rollout";
const tag = "labels";

const action = (name: RolloutAction, summary: string) =>
  apiRoute({
    method: "post",
    path: `${PATH}/${name}`,
    tag,
    summary,
    description: "`reason` goes to the label's ledger. Takes the role that may move the label.",
    params: LabelParams,
    body: RolloutActionBodySchema,
    responses: { 200: RolloutSchema },
  });

export const ROLLOUT_ROUTES = {
  startRollout: apiRoute({
    method: "post",
    path: PATH,
    tag,
    summary: "Start a guarded rollout of a version on a label",
    description:
      "The label keeps its version as the baseline; the candidate gets each step's share of the assignment keys while the guard compares the arms' spans and advances, holds or aborts. Takes the role that may move the label.",
    params: LabelParams,
    body: StartRolloutBodySchema,
    responses: { 201: RolloutSchema },
  }),
  rollout: apiRoute({
    method: "get",
    path: PATH,
    tag,
    summary: "A label's current (or last) rollout, with its arms' figures and the guard's last verdict",
    params: LabelParams,
    responses: { 200: RolloutSchema },
  }),
  pauseRollout: action("pause", "Pause a rollout: the split stays as it is and the guard stops judging"),
  resumeRollout: action("resume", "Resume a paused rollout"),
  advanceRollout: action("advance", "Advance a rollout to its next step (past the last, finish it)"),
  abortRollout: action("abort", "Abort a rollout: the label keeps the baseline, the candidate gets no more traffic"),
};

const ACTIONS: [RolloutAction, ApiRoute<{ 200: typeof RolloutSchema }>][] = [
  ["pause", ROLLOUT_ROUTES.pauseRollout],
  ["resume", ROLLOUT_ROUTES.resumeRollout],
  ["advance", ROLLOUT_ROUTES.advanceRollout],
  ["abort", ROLLOUT_ROUTES.abortRollout],
];

export function rolloutRoutes(rollouts: RolloutsService): Router {
  const r = Router();

  on(r, ROLLOUT_ROUTES.startRollout, async (req, res) => {
    const { name, label } = parse(LabelParams, req.params, "params");
    const body = parse(StartRolloutBodySchema, req.body);
    res.status(201).json(await rollouts.start(principalOf(res), name, label, body));
  });

  on(r, ROLLOUT_ROUTES.rollout, async (req, res) => {
    const { name, label } = parse(LabelParams, req.params, "params");
    res.json(await rollouts.get(principalOf(res), name, label));
  });

  for (const [act, route] of ACTIONS)
    on(r, route, async (req, res) => {
      const { name, label } = parse(LabelParams, req.params, "params");
      const { reason } = parse(RolloutActionBodySchema, req.body);
      res.json(await rollouts.act(principalOf(res), name, label, act, reason));
    });

  return r;
}
