import type { Router } from "express";
import { z } from "zod";
import { CreatePromptBodySchema, PublishVersionBodySchema } from "@promptreg/client/contract";
import { principalOf } from "../auth/principal.js";
import { parse } from "../http/validate.js";
import type { Metrics } from "../metrics.js";
import { NameParams, PageQuery } from "./params.js";
import type { PromptsService } from "./prompts.service.js";
import { parseRef } from "./refs.js";

const ListQuery = PageQuery.extend({
  prefix: z.string().max(255).optional(),
  tag: z.string().max(64).optional(),
  q: z.string().max(255).optional(),
});
const FoldersQuery = z.object({ prefix: z.string().max(255).optional() });
const PublishQuery = z.object({ dryRun: z.enum(["true", "false"], "must be true or false").optional() });
const VersionParams = NameParams.extend({ version: z.string().min(1).max(64) });
const ResolveQuery = z.object({ ref: z.string().min(1).max(128).optional() });
const DiffQuery = z.object({ from: z.string().min(1).max(128), to: z.string().min(1).max(128) });

/** True when the request's If-None-Match names the current ETag. */
function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}

/**
 * Registers the prompt routes on `r`, the API router itself rather than a router of their own (each router level a
 * request passes costs it a few matches), and counts resolve cache hits and misses in `metrics`.
 */
export function promptRoutes(prompts: PromptsService, r: Router, metrics: Pick<Metrics, "resolve">): Router {
  // First: resolving is what every application calls on every request.
  r.get("/prompts/:name/resolve", async (req, res) => {
    const principal = principalOf(res);
    const rawRef = req.query.ref;
    let resolved =
      typeof rawRef === "string" || rawRef === undefined
        ? prompts.cached(principal, req.params.name!, rawRef)
        : undefined;
    metrics.resolve(resolved !== undefined);
    if (!resolved) {
      const { name } = parse(NameParams, req.params, "params");
      const { ref } = parse(ResolveQuery, req.query, "query");
      resolved = await prompts.resolve(principal, name, ref);
    }
    res.setHeader("ETag", resolved.etag);
    res.setHeader("Cache-Control", "private, no-cache");
    if (etagMatches(req.get("if-none-match"), resolved.etag)) {
      res.status(304).end();
      return;
    }
    res.setHeader("Content-Type", "application/json; charset=utf-8");
    res.send(resolved.body);
  });

  r.post("/prompts", async (req, res) => {
    res.status(201).json(await prompts.create(principalOf(res), parse(CreatePromptBodySchema, req.body)));
  });

  r.get("/prompts", async (req, res) => {
    res.json(await prompts.list(principalOf(res), parse(ListQuery, req.query, "query")));
  });

  r.get("/prompts/:name", async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    res.json(await prompts.get(principalOf(res), name));
  });

  r.delete("/prompts/:name", async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    await prompts.remove(principalOf(res), name);
    res.status(204).end();
  });

  r.get("/folders", async (req, res) => {
    const { prefix } = parse(FoldersQuery, req.query, "query");
    res.json({ data: await prompts.folders(principalOf(res), prefix) });
  });

  r.post("/prompts/:name/versions", async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    const { dryRun } = parse(PublishQuery, req.query, "query");
    const body = parse(PublishVersionBodySchema, req.body);
    if (dryRun === "true") {
      const preview = await prompts.publish(principalOf(res), name, body, { dryRun: true });
      res.json({ dryRun: true, ...preview });
      return;
    }
    const { created, version } = await prompts.publish(principalOf(res), name, body);
    res.status(created ? 201 : 200).json(version);
  });

  r.get("/prompts/:name/versions", async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    res.json(await prompts.listVersions(principalOf(res), name, parse(PageQuery, req.query, "query")));
  });

  r.get("/prompts/:name/versions/:version", async (req, res) => {
    const { name, version } = parse(VersionParams, req.params, "params");
    res.json(await prompts.getVersion(principalOf(res), name, version));
  });

  r.get("/prompts/:name/diff", async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    const { from, to } = parse(DiffQuery, req.query, "query");
    // Read here, so that a reference of no known form is named where it was (the service would name `query.ref`).
    parseRef(from, "query.from");
    parseRef(to, "query.to");
    res.json(await prompts.diff(principalOf(res), name, from, to));
  });

  return r;
}
