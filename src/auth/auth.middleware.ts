import type { RequestHandler } from "express";
import { AppError } from "../http/errors.js";
import type { AuthService } from "./auth.service.js";
import { SESSION_COOKIE, readCookie, type SessionService } from "./sessions.js";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * `Authorization: Bearer <key>` -> res.locals.principal, or 401. Without the header, the console's session cookie
 * is accepted instead, and a write through it needs the session's CSRF token.
 */
export function authenticate(auth: AuthService, sessions?: SessionService): RequestHandler {
  return async (req, res, next) => {
    const header = req.get("authorization");
    const cookie = header === undefined && sessions ? readCookie(req.headers.cookie, SESSION_COOKIE) : undefined;
    if (cookie !== undefined) {
      const session = await sessions!.find(cookie);
      if (!session) throw new AppError("unauthorized", "session expired or revoked: sign in again");
      if (!SAFE_METHODS.has(req.method)) sessions!.requireCsrf(cookie, req);
      res.locals.principal = session.principal;
      return next();
    }
    const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
    if (!match) throw new AppError("unauthorized", "missing API key: send 'Authorization: Bearer <key>'");
    const principal = await auth.authenticate(match[1]!);
    if (!principal) throw new AppError("unauthorized", "invalid API key");
    res.locals.principal = principal;
    // Lets a client check, on any answer, that its snapshot belongs to the key's project (PROJECT_HEADER in the client).
    res.setHeader("X-Promptreg-Project", principal.projectName);
    next();
  };
}
