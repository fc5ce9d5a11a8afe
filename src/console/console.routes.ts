// The web console (web/, built by `npm run build` into web/dist) as static files on the API's own origin: no CORS,
// and the session cookie never leaves it. Client-side routes fall back to index.html.
import { existsSync } from "node:fs";
import path from "node:path";
import express, { Router, type RequestHandler } from "express";
import { AppError } from "../http/errors.js";
import { packageRoot } from "../paths.js";

export const defaultConsoleDir = () => path.join(packageRoot(), "web", "dist");

// The bundle is built with no inline script or style, so the policy allows none: an injected <script> cannot run.
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

export const securityHeaders: RequestHandler = (_req, res, next) => {
  res.setHeader("Content-Security-Policy", CONSOLE_CSP);
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("Referrer-Policy", "no-referrer");
  res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
  res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
  next();
};

// Paths the console never answers, so a typo there stays a JSON 404 from the API instead of an HTML page.
const NOT_CONSOLE = /^\/(api|v1|healthz|readyz)(\/|$)/;

export function consoleRoutes({ dir = defaultConsoleDir() }: { dir?: string } = {}): Router {
  const r = Router();
  const index = path.join(dir, "index.html");

  r.use((req, res, next) => {
    if (NOT_CONSOLE.test(req.path) || (req.method !== "GET" && req.method !== "HEAD")) return next("router");
    securityHeaders(req, res, next);
  });

  r.use(
    express.static(dir, {
      index: false,
      redirect: false,
      setHeaders(res, file) {
        // Vite names every asset by its content hash: cache it for good. Anything else is revalidated.
        const hashed = path.relative(dir, file).startsWith(`assets${path.sep}`);
        res.setHeader("Cache-Control", hashed ? "public, max-age=31536000, immutable" : "no-cache");
      },
    }),
  );

  r.use((req, res, next) => {
    // A missing asset is a 404, not the page: the browser would otherwise run HTML as a script and report nonsense.
    if (req.path.startsWith("/assets/") || !req.accepts("html")) return next();
    if (!existsSync(index))
      throw new AppError("not_found", `the console is not built (no ${index}): run 'npm run build', then restart`);
    res.setHeader("Cache-Control", "no-cache");
    res.sendFile(index);
  });

  return r;
}
