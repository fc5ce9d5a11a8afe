import type { RequestHandler } from "express";
import { AppError } from "../http/errors.js";
import type { AuthService } from "./auth.service.js";

/** `Authorization: Bearer <key>` -> res.locals.principal, or 401. */
export function authenticate(auth: AuthService): RequestHandler {
  return async (req, res, next) => {
    const header = req.get("authorization");
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
