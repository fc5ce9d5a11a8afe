// What the rendering tests share: a version built from a template as the registry builds one, and the error a call
// throws.
import type { Template } from "../src/contract.js";
import { analyzeTemplate, type RenderableVersion } from "../src/render.js";

export function version(template: Template, variablesSchema?: Record<string, unknown>): RenderableVersion {
  return {
    contentHash: JSON.stringify([template, variablesSchema ?? null]),
    template,
    variables: analyzeTemplate(template, variablesSchema),
    variablesSchema,
  };
}

/** What `fn` throws; fails the test when it returns. */
export function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a throw");
}
