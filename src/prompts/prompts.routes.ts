import type { Router } from "express";
import { z } from "zod";
import {
  AssignmentKeySchema,
  CreatePromptBodySchema,
  FolderListSchema,
  PromptDetailSchema,
  PromptListSchema,
  PromptMetaSchema,
  PromptVersionSchema,
  PublishPreviewSchema,
  PublishVersionBodySchema,
  VersionDiffSchema,
  VersionListSchema,
} from "@promptreg/client/contract";
import { principalOf } from "../auth/principal.js";
import { apiRoute, on } from "../http/api-route.js";
import { parse } from "../http/validate.js";
import type { Metrics } from "../metrics.js";
import { NameParams, PageQuery } from "./params.js";
import type { PromptsService } from "./prompts.service.js";
import { parseRef } from "./refs.js";
import { resolvedForKey } from "./resolve.js";

const ListQuery = PageQuery.extend({
  prefix: z.string().max(255).optional(),
  tag: z.string().max(64).optional(),
  q: z.string().max(255).optional(),
});
const FoldersQuery = z.object({ prefix: z.string().max(255).optional() });
const PublishQuery = z.object({ dryRun: z.enum(["true", "false"], "must be true or false").optional() });
const VersionParams = NameParams.extend({ version: z.string().min(1).max(64) });
const ResolveQuery = z.object({ ref: z.string().min(1).max(128).optional(), key: AssignmentKeySchema.optional() });
const DiffQuery = z.object({ from: z.string().min(1).max(128), to: z.string().min(1).max(128) });

const tag = "prompts";
export const PROMPT_ROUTES = {
  resolve: apiRoute({
    method: "get",
    path: "/prompts/:name/resolve",
    tag,
    summary: "Resolve a reference to one version",
    description:
      "`ref` is a version (1.4.2), a label (production, latest), a range (^1.4) or label@time; production by default. Answers an ETag and 304 to a matching If-None-Match. A label under a guarded rollout answers its version with the rollout and the candidate, for the caller to pick each call's arm; with the assignment `key`, the key's arm's version.",
    params: NameParams,
    query: ResolveQuery,
    responses: { 200: PromptVersionSchema, 304: null },
  }),
  create: apiRoute({
    method: "post",
    path: "/prompts",
    tag,
    summary: "Create a prompt (without versions)",
    body: CreatePromptBodySchema,
    responses: { 201: PromptMetaSchema },
  }),
  list: apiRoute({
    method: "get",
    path: "/prompts",
    tag,
    summary: "List prompts",
    query: ListQuery,
    responses: { 200: PromptListSchema },
  }),
  get: apiRoute({
    method: "get",
    path: "/prompts/:name",
    tag,
    summary: "A prompt with its labels and latest versions",
    params: NameParams,
    responses: { 200: PromptDetailSchema },
  }),
  remove: apiRoute({
    method: "delete",
    path: "/prompts/:name",
    tag,
    summary: "Delete a prompt with its versions and labels",
    params: NameParams,
    responses: { 204: null },
  }),
  folders: apiRoute({
    method: "get",
    path: "/folders",
    tag,
    summary: "Folders of prompt names, with how many prompts each holds",
    query: FoldersQuery,
    responses: { 200: FolderListSchema },
  }),
  publish: apiRoute({
    method: "post",
    path: "/prompts/:name/versions",
    tag,
    summary: "Publish a version",
    description:
      "201 with the new version; 200 with the highest version when the content equals it (nothing is created); with dryRun=true, 200 with what the publish would answer, writing nothing.",
    params: NameParams,
    query: PublishQuery,
    body: PublishVersionBodySchema,
    responses: { 201: PromptVersionSchema, 200: z.union([PromptVersionSchema, PublishPreviewSchema]) },
  }),
  versions: apiRoute({
    method: "get",
    path: "/prompts/:name/versions",
    tag,
    summary: "List a prompt's versions, highest first",
    params: NameParams,
    query: PageQuery,
    responses: { 200: VersionListSchema },
  }),
  version: apiRoute({
    method: "get",
    path: "/prompts/:name/versions/:version",
    tag,
    summary: "One version",
    params: VersionParams,
    responses: { 200: PromptVersionSchema },
  }),
  diff: apiRoute({
    method: "get",
    path: "/prompts/:name/diff",
    tag,
    summary: "What changed between two versions, and the bump it calls for",
    params: NameParams,
    query: DiffQuery,
    responses: { 200: VersionDiffSchema },
  }),
};

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
  on(r, PROMPT_ROUTES.resolve, async (req, res) => {
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
    if (req.query.key !== undefined) {
      const { key } = parse(ResolveQuery, req.query, "query");
      resolved = resolvedForKey(resolved, key!);
    }
    res.setHeader("ETag", resolved.etag);
    res.setHeader("Cache-Control", "private, no-cache");
    if (etagMatches(req.get("if-none-match"), resolved.etag)) {
      res.status(304).end();
      return;
    }
    res.setHeader("Content-Type", "application/json; charset=utf-8");
    // Serialized once per version and cached: the PromptVersion JSON as the service built it.
    res.send(resolved.body as never);
  });

  on(r, PROMPT_ROUTES.create, async (req, res) => {
    res.status(201).json(await prompts.create(principalOf(res), parse(CreatePromptBodySchema, req.body)));
  });

  on(r, PROMPT_ROUTES.list, async (req, res) => {
    res.json(await prompts.list(principalOf(res), parse(ListQuery, req.query, "query")));
  });

  on(r, PROMPT_ROUTES.get, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    res.json(await prompts.get(principalOf(res), name));
  });

  on(r, PROMPT_ROUTES.remove, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    await prompts.remove(principalOf(res), name);
    res.status(204).end();
  });

  on(r, PROMPT_ROUTES.folders, async (req, res) => {
    const { prefix } = parse(FoldersQuery, req.query, "query");
    res.json({ data: await prompts.folders(principalOf(res), prefix) });
  });

  on(r, PROMPT_ROUTES.publish, async (req, res) => {
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

  on(r, PROMPT_ROUTES.versions, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    res.json(await prompts.listVersions(principalOf(res), name, parse(PageQuery, req.query, "query")));
  });

  on(r, PROMPT_ROUTES.version, async (req, res) => {
    const { name, version } = parse(VersionParams, req.params, "params");
    res.json(await prompts.getVersion(principalOf(res), name, version));
  });

  on(r, PROMPT_ROUTES.diff, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    const { from, to } = parse(DiffQuery, req.query, "query");
    // Read here, so that a reference of no known form is named where it was (the service would name `query.ref`).
    parseRef(from, "query.from");
    parseRef(to, "query.to");
    res.json(await prompts.diff(principalOf(res), name, from, to));
  });

  return r;
}
