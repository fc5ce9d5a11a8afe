import type { Response } from "express";
import type { Role } from "@promptreg/client/contract";
import { AppError } from "../http/errors.js";
import { DEFAULT_PROJECT } from "./auth.service.js";

/** Who is calling: an API key of one project. */
export interface Principal {
  keyId: string;
  keyName: string;
  role: Role;
  projectId: string;
  projectName: string;
  protectedLabels: string[];
}

const RANK: Record<Role, number> = { read: 0, write: 1, admin: 2 };

export function hasRole(p: Principal, role: Role): boolean {
  return RANK[p.role] >= RANK[role];
}

export function requireRole(p: Principal, role: Role): void {
  if (!hasRole(p, role))
    throw new AppError("forbidden", `this action needs a key with the '${role}' role; this key has '${p.role}'`);
}

/** The instance's business (projects, metrics) is for an admin key of the `default` project. */
export function isInstanceAdmin(p: Principal): boolean {
  return p.role === "admin" && p.projectName === DEFAULT_PROJECT;
}

export function requireInstanceAdmin(p: Principal, what: string): void {
  if (!isInstanceAdmin(p)) throw new AppError("forbidden", `${what} needs an admin key of the 'default' project`);
}

export function principalOf(res: Pick<Response, "locals">): Principal {
  const p = res.locals.principal as Principal | undefined;
  if (!p) throw new AppError("unauthorized", "missing API key");
  return p;
}

/**
 * The service's own background work (an evaluator, an experiment) acting for a project: it reads the project's
 * prompts as a read key would, and can do nothing else.
 */
export function backgroundReader(who: string, project: { projectId: string; projectName: string }): Principal {
  return {
    keyId: who,
    keyName: who,
    role: "read",
    projectId: project.projectId,
    projectName: project.projectName,
    protectedLabels: [],
  };
}
