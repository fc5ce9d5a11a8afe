import { randomUUID } from "node:crypto";
import type { RequestHandler, Response } from "express";
import type { Logger } from "pino";

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Gives every request an id (the caller's X-Request-Id when sane) and logs one line when it finishes. */
export function requestContext(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get("x-request-id");
    const id = incoming && SAFE_ID.test(incoming) ? incoming : randomUUID();
    res.locals.requestId = id;
    res.setHeader("X-Request-Id", id);
    const start = process.hrtime.bigint();
    res.on("finish", () => {
      // Requests refused under load are summarised by their own counted log line instead.
      if (res.locals.skipRequestLog) return;
      // Successful reads (resolves, thousands a second from every application) log at debug; writes at info;
      // client errors at warn and server errors at error.
      const status = res.statusCode;
      const level =
        status >= 500
          ? "error"
          : status >= 400
            ? "warn"
            : req.method === "GET" || req.method === "HEAD"
              ? "debug"
              : "info";
      if (!logger.isLevelEnabled(level)) return;
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      logger[level](
        { reqId: id, method: req.method, path: req.originalUrl, status, ms: Math.round(ms * 100) / 100 },
        "request",
      );
    });
    next();
  };
}

export const requestIdOf = (res: Response): string | undefined => res.locals.requestId as string | undefined;
