import { Router, type Request } from "express";
import { SessionSchema, SignInBodySchema } from "@promptreg/client/contract";
import { z } from "zod";
import { apiRoute, on } from "../http/api-route.js";
import { AppError } from "../http/errors.js";
import { parse } from "../http/validate.js";
import { SESSION_COOKIE, readCookie, type SessionService } from "./sessions.js";

// Only the API reads the cookie, so the browser sends it nowhere else.
const COOKIE_PATH = "/api";

const tag = "console session";
export const SESSION_ROUTES = {
  signIn: apiRoute({
    method: "post",
    path: "/session",
    tag,
    auth: "none",
    summary: "Sign in with an API key: sets the session cookie",
    body: SignInBodySchema,
    responses: { 201: SessionSchema },
  }),
  get: apiRoute({
    method: "get",
    path: "/session",
    tag,
    auth: "session",
    summary: "The current session",
    description: "With optional=true, no session is a 204 rather than a 401.",
    query: z.object({ optional: z.enum(["true", "false"]).optional() }),
    responses: { 200: SessionSchema, 204: null },
  }),
  signOut: apiRoute({
    method: "delete",
    path: "/session",
    tag,
    auth: "session",
    summary: "Sign out (needs the session's X-CSRF-Token)",
    responses: { 204: null },
  }),
};

/**
 * Sign-in, who-am-I and sign-out for the console; mounted before the bearer check (they do their own). The cookie is
 * Secure when the request came over HTTPS, which behind a proxy Express knows from X-Forwarded-Proto only when the
 * proxy is trusted (PROMPTREG_TRUST_PROXY); `always` sets it whatever the request says.
 */
export function sessionRoutes(sessions: SessionService, options: { secureCookies: "auto" | "always" }): Router {
  const r = Router();

  const cookieOptions = (req: Request) => ({
    httpOnly: true,
    sameSite: "strict" as const,
    secure: options.secureCookies === "always" || req.secure,
    path: COOKIE_PATH,
  });

  const current = async (req: Request) => {
    const token = readCookie(req.headers.cookie, SESSION_COOKIE);
    const session = token && (await sessions.find(token));
    if (!token || !session)
      throw new AppError(
        "unauthorized",
        "not signed in (or the session expired or its key was deleted): sign in with an API key",
      );
    return { token, session };
  };

  on(r, SESSION_ROUTES.signIn, async (req, res) => {
    const { key } = parse(SignInBodySchema, req.body);
    const opened = await sessions.open(key);
    if (!opened) throw new AppError("unauthorized", "invalid API key");
    // A sign-in replaces the session this browser had.
    const previous = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (previous) await sessions.close(previous);
    res.cookie(SESSION_COOKIE, opened.token, { ...cookieOptions(req), maxAge: sessions.ttlMs });
    res.setHeader("Cache-Control", "no-store");
    res.status(201).json(opened.view);
  });

  // `?optional=true` is the console's probe on load: "no session" is then an answer (204, no body), not an error,
  // so that a signed-out page logs nothing in the browser's console. It grants no more than the 401 does: no
  // session, no key name, no CSRF token.
  on(r, SESSION_ROUTES.get, async (req, res) => {
    res.setHeader("Cache-Control", "no-store");
    if (req.query.optional === "true") {
      const token = readCookie(req.headers.cookie, SESSION_COOKIE);
      const session = token && (await sessions.find(token));
      if (session) res.json(session.view);
      else res.status(204).end();
      return;
    }
    const { session } = await current(req);
    res.json(session.view);
  });

  on(r, SESSION_ROUTES.signOut, async (req, res) => {
    const { token } = await current(req);
    sessions.requireCsrf(token, req);
    await sessions.close(token);
    res.clearCookie(SESSION_COOKIE, cookieOptions(req));
    res.status(204).end();
  });

  return r;
}
