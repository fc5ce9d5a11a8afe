// For the tests (createApp's `checkAnswers`, off in production): every JSON answer of /api/v1 is checked against
// what its route declares, both by the contract's zod schema (as the console and the client parse it) and by the
// OpenAPI document (as a generated client reads it, where an undeclared field is an error). A mismatch replaces the
// answer with a 500 naming it, so the test that received it fails there, whatever it asserts.
import { Ajv2020 } from "ajv/dist/2020.js";
import type { RequestHandler } from "express";
import type { z } from "zod";
import { ErrorBodySchema } from "@promptreg/client/contract";
import type { ApiRoute } from "./api-route.js";
import { openApiPath, type RouteGroups } from "./openapi.js";
import { requestIdOf } from "./request-context.js";

const pointer = (...segments: string[]) =>
  segments.map((s) => `/${s.replaceAll("~", "~0").replaceAll("/", "~1")}`).join("");

export function checkAnswers(groups: RouteGroups, document: object): RequestHandler {
  const routes = new Map<string, ApiRoute>();
  for (const group of Object.values(groups))
    for (const route of Object.values(group)) routes.set(`${route.method.toUpperCase()} ${route.path}`, route);
  // Formats are prose in this document (no validator reads them elsewhere); the shapes are what is checked.
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema(document, "openapi.json");
  const documentCheck = (route: ApiRoute | undefined, status: number) => {
    const where = route
      ? pointer("paths", openApiPath(route.path), route.method, "responses", String(status))
      : pointer("components", "schemas", "ErrorBody");
    return ajv.getSchema(`openapi.json#${route ? `${where}/content/application~1json/schema` : where}`);
  };

  const problemOf = (route: ApiRoute | undefined, status: number, text: string): string | null => {
    const error = status >= 400;
    if (!error && !route) return `a ${status} answer from no declared route`;
    const schema: z.ZodType | null | undefined = error ? ErrorBodySchema : route!.responses[status];
    if (schema === undefined) return `status ${status} is not declared`;
    if (schema === null) return `status ${status} is declared without a body, and this one has one`;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return "the body is not JSON";
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success)
      return `the contract's schema refuses it: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`;
    const validate = documentCheck(error ? undefined : route, status);
    if (!validate) return `the OpenAPI document has no schema for status ${status}`;
    if (!validate(json))
      return `the OpenAPI document refuses it: ${ajv.errorsText(validate.errors, { dataVar: "answer" })}`;
    return null;
  };

  return (req, res, next) => {
    const send = res.send;
    res.send = function checkedSend(this: typeof res, body?: unknown) {
      // Objects come back here as text through res.json; only the text sent is checked.
      if (typeof body !== "string" || !/json/.test(String(this.get("Content-Type") ?? "")))
        return send.call(this, body);
      const method = req.method === "HEAD" ? "GET" : req.method;
      const route = req.route ? routes.get(`${method} ${req.route.path as string}`) : undefined;
      const problem = problemOf(route, this.statusCode, body);
      if (problem === null) return send.call(this, body);
      const answer = {
        error: {
          code: "internal",
          message: `answer check: ${req.method} ${req.originalUrl} answered ${this.statusCode}, which does not match its declaration: ${problem}`,
          details: { answer: body.slice(0, 2_000) },
          requestId: requestIdOf(this),
        },
      };
      this.status(500);
      return send.call(this, `${JSON.stringify(answer)}\n`);
    };
    next();
  };
}
