// The routes an app serves, read from its router stack: what the lists of routes the tests keep (the fuzz test's,
// the OpenAPI document's) are checked against, so that a new route cannot be left out of them.
import type { Harness } from "./harness.js";

/** "METHOD /path" of every route in the app's router stack, mounted routers included. */
export function routesOf(app: Harness["app"]): string[] {
  type Layer = {
    route?: { path: string; methods: Record<string, boolean> };
    handle?: { stack?: Layer[] };
    rawPath?: string;
  };
  const out: string[] = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route)
        for (const method of Object.keys(layer.route.methods))
          out.push(`${method.toUpperCase()} ${prefix}${layer.route.path}`);
      else if (layer.handle?.stack)
        walk(
          layer.handle.stack,
          prefix + (typeof layer.rawPath === "string" && layer.rawPath !== "/" ? layer.rawPath : ""),
        );
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, "");
  return out;
}
