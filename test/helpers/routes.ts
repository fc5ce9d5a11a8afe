// The routes an app registers, read from its router stack: tests that must cover every route (or every write
// route) compare their own list with this one, so that a new route without a case fails them.
import type { createApp } from "../../src/app.js";

/** "METHOD /path" of every route in the app's router stack, mounted routers included. */
export function routesOf(app: ReturnType<typeof createApp>["app"]): string[] {
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
