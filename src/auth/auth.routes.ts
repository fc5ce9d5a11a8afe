import { Router } from "express";
import { z } from "zod";
import {
  CreateKeyBodySchema,
  CreateProjectBodySchema,
  LabelNameSchema,
  ProjectNameSchema,
} from "@promptreg/client/contract";
import { AppError } from "../http/errors.js";
import { parse } from "../http/validate.js";
import type { AuthService } from "./auth.service.js";
import { isInstanceAdmin, principalOf, requireInstanceAdmin, requireRole } from "./principal.js";

const IdParams = z.object({ id: z.uuid("must be a key id") });
const ProjectParams = z.object({ name: ProjectNameSchema });
const UpdateProjectBody = z.strictObject({ protectedLabels: z.array(LabelNameSchema).max(50) });

export function authRoutes(auth: AuthService): Router {
  const r = Router();

  // Any key may ask which project it belongs to: `promptreg pull` records it in snapshots, so that a client of another
  // project refuses them.
  r.get("/whoami", (_req, res) => {
    const p = principalOf(res);
    res.json({ project: p.projectName, role: p.role });
  });

  r.post("/keys", async (req, res) => {
    const p = principalOf(res);
    requireRole(p, "admin");
    const body = parse(CreateKeyBodySchema, req.body);
    res.status(201).json(await auth.createKey(p.projectId, body.name, body.role));
  });

  r.get("/keys", async (_req, res) => {
    const p = principalOf(res);
    requireRole(p, "admin");
    res.json({ data: await auth.listKeys(p.projectId) });
  });

  r.delete("/keys/:id", async (req, res) => {
    const p = principalOf(res);
    requireRole(p, "admin");
    const { id } = parse(IdParams, req.params, "params");
    await auth.deleteKey(p.projectId, id);
    res.status(204).end();
  });

  const requireProjectsAdmin = (res: Parameters<typeof principalOf>[0]) =>
    requireInstanceAdmin(principalOf(res), "managing projects");

  r.post("/projects", async (req, res) => {
    requireProjectsAdmin(res);
    const body = parse(CreateProjectBodySchema, req.body);
    res.status(201).json(await auth.createProject(body.name));
  });

  r.get("/projects", async (_req, res) => {
    requireProjectsAdmin(res);
    res.json({ data: await auth.listProjects() });
  });

  // A project's own admin (or the instance admin) decides which of its labels are protected.
  r.patch("/projects/:name", async (req, res) => {
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
