import { Router } from "express";
import { RenderBodySchema } from "@promptreg/client/contract";
import { RenderError, TemplateError, type Renderer } from "@promptreg/client/render";
import { principalOf } from "../auth/principal.js";
import { AppError } from "../http/errors.js";
import { parse } from "../http/validate.js";
import { NameParams } from "../prompts/prompts.routes.js";
import type { PromptsService } from "../prompts/prompts.service.js";

export function renderRoutes(prompts: PromptsService, renderer: Renderer): Router {
  const r = Router();

  r.post("/prompts/:name/render", async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    const body = parse(RenderBodySchema, req.body);
    const { version } = await prompts.resolve(principalOf(res), name, body.ref);
    let rendered;
    try {
      rendered = renderer.render(version, body.variables, { strictExtras: body.strictExtras });
    } catch (err) {
      if (err instanceof RenderError) throw new AppError(err.code, err.message, err.details);
      // Templates are checked at publish; this only guards rows written by other means.
      if (err instanceof TemplateError) throw new AppError("invalid_template", err.message, err.details);
      throw err;
    }
    res.json({
      ...rendered,
      prompt: {
        promptId: version.promptId,
        name: version.name,
        type: version.type,
        version: version.version,
        contentHash: version.contentHash,
        ...(version.label ? { label: version.label } : {}),
      },
    });
  });

  return r;
}
