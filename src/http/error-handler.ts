import type { ErrorRequestHandler, RequestHandler } from "express";
import type { Logger } from "pino";
import { RenderError, TemplateError } from "@promptreg/client/render";
import { AppError } from "./errors.js";
import { requestIdOf } from "./request-context.js";

/** Renders every error as `{"error": {code, message, details?, requestId}}`. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    const appError = toAppError(err);
    if (appError.status >= 500) logger.error({ err, reqId: requestIdOf(res) }, "request failed");
    if (res.headersSent) return;
    res.status(appError.status).json({
      error: {
        code: appError.code,
        message: appError.message,
        ...(appError.details === undefined ? {} : { details: appError.details }),
        requestId: requestIdOf(res),
      },
    });
  };
}

export const notFoundHandler: RequestHandler = (req) => {
  throw new AppError("not_found", `no route for ${req.method} ${req.path}`);
};

function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  // The renderer is shared with the client, so it throws its own errors; their codes are ours.
  if (err instanceof RenderError) return new AppError(err.code, err.message, err.details);
  if (err instanceof TemplateError) return new AppError("invalid_template", err.message, err.details);
  // body-parser errors carry a `type` and an HTTP status.
  const e = err as { type?: string; status?: number; limit?: number; message?: string };
  if (e?.type === "entity.too.large") return new AppError("payload_too_large", `request body exceeds ${e.limit} bytes`);
  if (e?.type === "entity.parse.failed") return new AppError("bad_request", `malformed JSON body: ${e.message}`);
  if (e?.type === "encoding.unsupported" || e?.type === "charset.unsupported")
    return new AppError("unsupported_media_type", e.message ?? "unsupported encoding");
  if (typeof e?.status === "number" && e.status >= 400 && e.status < 500)
    return new AppError("bad_request", e.message ?? "bad request");
  return new AppError("internal", "internal error");
}
