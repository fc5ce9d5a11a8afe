import { Router } from "express";
import { RenderBodySchema, RenderResponseSchema } from "@promptreg/client/contract";
import type { Renderer } from "@promptreg/client/render";
import { principalOf } from "../auth/principal.js";
import { apiRoute, on } from "../http/api-route.js";
import { parse } from "../http/validate.js";
import { NameParams } from "../prompts/params.js";
import type { PromptsService } from "../prompts/prompts.service.js";
import { parseRef } from "../prompts/refs.js";
import { resolvedForKey } from "../prompts/resolve.js";

export const RENDER_ROUTES = {
  render: apiRoute({
    method: "post",
    path: "/prompts/:name/render",
    tag: "prompts",
    summary: "Render a version with variables",
    params: NameParams,
    body: RenderBodySchema,
    responses: { 200: RenderResponseSchema },
  }),
};

export function renderRoutes(prompts: PromptsService, renderer: Renderer): Router {
  const r = Router();

  on(r, RENDER_ROUTES.render, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    const body = parse(RenderBodySchema, req.body);
    // Read here, so that a reference of no known form is named where it was (resolve would name its query's).
    if (body.ref !== undefined) parseRef(body.ref, "body.ref");
    const resolved = await prompts.resolve(principalOf(res), name, body.ref);
    // The key's arm when the label is under a rollout, as resolve with the same key answers.
    const { version } = body.key === undefined ? resolved : resolvedForKey(resolved, body.key);
    const rollout = version.rollout?.arm && {
      id: version.rollout.id,
      arm: version.rollout.arm,
      step: version.rollout.step,
    };
    // RenderError is a 422 naming the variables; a TemplateError (templates are checked at publish) only guards rows
    // written by other means. The error handler maps both.
    const rendered = renderer.render(version, body.variables, { strictExtras: body.strictExtras });
    res.json({
      ...rendered,
      prompt: {
        promptId: version.promptId,
        name: version.name,
        type: version.type,
        version: version.version,
        contentHash: version.contentHash,
        ...(version.label ? { label: version.label } : {}),
        ...(rollout ? { rollout } : {}),
      },
    });
  });

  return r;
}
