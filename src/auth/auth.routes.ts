import { Router } from "express";
import { z } from "zod";
import {
  CreateKeyBodySchema,
  CreateProjectBodySchema,
  CreatedKeySchema,
  CreatedProjectSchema,
  KeyListSchema,
  LabelNameSchema,
  ProjectListSchema,
  ProjectNameSchema,
  ProjectViewSchema,
  WhoamiSchema,
} from "@promptreg/client/contract";
import { apiRoute, on } from "../http/api-route.js";
import { AppError } from "../http/errors.js";
import { parse } from "../http/validate.js";
import type { AuthService } from "./auth.service.js";
import { isInstanceAdmin, principalOf, requireInstanceAdmin, requireRole } from "./principal.js";

const IdParams = z.object({ id: z.uuid("must be a key id") });
const ProjectParams = z.object({ name: ProjectNameSchema });
const UpdateProjectBody = z.strictObject({ protectedLabels: z.array(LabelNameSchema).max(50) });

const tag = "keys and projects";
export const AUTH_ROUTES = {
  whoami: apiRoute({
    method: "get",
    path: "/whoami",
    tag,
    summary: "The project and role of the calling key",
    responses: { 200: WhoamiSchema },
  }),
  createKey: apiRoute({
    method: "post",
    path: "/keys",
    tag,
    summary: "Create a key of the project (admin); its secret is in this answer only",
    body: CreateKeyBodySchema,
    responses: { 201: CreatedKeySchema },
  }),
  listKeys: apiRoute({
    method: "get",
    path: "/keys",
    tag,
    summary: "The project's keys (admin)",
    responses: { 200: KeyListSchema },
  }),
  deleteKey: apiRoute({
    method: "delete",
    path: "/keys/:id",
    tag,
    summary: "Delete a key (admin)",
    params: IdParams,
    responses: { 204: null },
  }),
  createProject: apiRoute({
    method: "post",
    path: "/projects",
    tag,
    summary: "Create a project with its first admin key (instance admin)",
    body: CreateProjectBodySchema,
    responses: { 201: CreatedProjectSchema },
  }),
  listProjects: apiRoute({
    method: "get",
    path: "/projects",
    tag,
    summary: "Every project (instance admin)",
    responses: { 200: ProjectListSchema },
  }),
  updateProject: apiRoute({
    method: "patch",
    path: "/projects/:name",
    tag,
    summary: "Set which labels of a project are protected (its admin)",
    params: ProjectParams,
    body: UpdateProjectBody,
    responses: { 200: ProjectViewSchema },
  }),
};

export function authRoutes(auth: AuthService): Router {
  const r = Router();

  // Any key may ask which project it belongs to: `promptreg pull` records it in snapshots, so that a client of another
  // project refuses them.
  on(r, AUTH_ROUTES.whoami, (_req, res) => {
    const p = principalOf(res);
    res.json({ project: p.projectName, role: p.role });
  });

  on(r, AUTH_ROUTES.createKey, async (req, res) => {
    const p = principalOf(res);
    requireRole(p, "admin");
    const body = parse(CreateKeyBodySchema, req.body);
    res.status(201).json(await auth.createKey(p.projectId, body.name, body.role));
  });

  on(r, AUTH_ROUTES.listKeys, async (_req, res) => {
    const p = principalOf(res);
    requireRole(p, "admin");
    res.json({ data: await auth.listKeys(p.projectId) });
  });

  on(r, AUTH_ROUTES.deleteKey, async (req, res) => {
    const p = principalOf(res);
    requireRole(p, "admin");
    const { id } = parse(IdParams, req.params, "params");
    await auth.deleteKey(p.projectId, id);
    res.status(204).end();
  });

  const requireProjectsAdmin = (res: Parameters<typeof principalOf>[0]) =>
    requireInstanceAdmin(principalOf(res), "managing projects");

  on(r, AUTH_ROUTES.createProject, async (req, res) => {
    requireProjectsAdmin(res);
    const body = parse(CreateProjectBodySchema, req.body);
    res.status(201).json(await auth.createProject(body.name));
  });

  on(r, AUTH_ROUTES.listProjects, async (_req, res) => {
    requireProjectsAdmin(res);
    res.json({ data: await auth.listProjects() });
  });

  // A project's own admin (or the instance admin) decides which of its labels are protected.
  on(r, AUTH_ROUTES.updateProject, async (req, res) => {
    const p = principalOf(res);
    const { name } = parse(ProjectParams, req.params, "params");
    const body = parse(UpdateProjectBody, req.body);
    if (name !== p.projectName && !isInstanceAdmin(p)) throw new AppError("not_found", `project '${name}' not found`);
    requireRole(p, "admin");
    const project = await auth.findProject(name);
    if (!project) throw new AppError("not_found", `project '${name}' not found`);
    res.json(await auth.setProtectedLabels(project.id, body.protectedLabels));
  });

  return r;
}
