// API keys and projects: the only module that writes the api_keys and projects tables.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { LRUCache } from "lru-cache";
import type { Logger } from "pino";
import type { CreatedKey, KeyView, ProjectView, Role } from "@promptreg/client/contract";
import { isUniqueViolation } from "../db/client.js";
import type { InvalidationBus } from "../db/invalidation.js";
import type { ReadDb, Write } from "../db/writes.js";
import { AppError, notFound } from "../http/errors.js";
import { displayPrefix, generateKey, hashKey, sameHash } from "./keys.js";
import type { Principal } from "./principal.js";

export const DEFAULT_PROJECT = "default";
// Principals are cached briefly so the hot path does not hit the database; deleting a key invalidates at once.
const PRINCIPAL_TTL_MS = 30_000;
const PRINCIPAL_CACHE_MAX = 10_000;

export type AuthService = ReturnType<typeof createAuthService>;

export function createAuthService({ db, bus }: { db: ReadDb; bus: InvalidationBus }) {
  // By the key's hash. At the bound the least recently used key makes room, not every cached key at once.
  const cache = new LRUCache<string, Principal>({ max: PRINCIPAL_CACHE_MAX, ttl: PRINCIPAL_TTL_MS });
  bus.subscribe((topic) => {
    // A principal is made of its key and its project; any other kind than a prompt's may concern them.
    if (topic.kind !== "prompt") cache.clear();
  });

  async function insertKey(
    { tx, record }: Write,
    projectId: string,
    name: string,
    role: Role,
    secret = generateKey(),
  ): Promise<CreatedKey> {
    const row = await tx.apiKey.create({
      data: { projectId, name, role, hash: hashKey(secret), prefix: displayPrefix(secret) },
    });
    record({ kind: "key.created", projectId, keyId: row.id });
    return { ...keyView(row), key: secret };
  }

  return {
    /** The caller behind a bearer secret, or null. */
    async authenticate(secret: string): Promise<Principal | null> {
      const hash = hashKey(secret);
      const hit = bus.healthy ? cache.get(hash) : undefined;
      if (hit) return hit;
      const row = await db.apiKey.findUnique({ where: { hash }, include: { project: true } });
      // The lookup is by hash; comparing the stored hash in constant time keeps the check itself timing-safe.
      if (!row || !sameHash(row.hash, hash)) {
        cache.delete(hash);
        return null;
      }
      const principal: Principal = {
        keyId: row.id,
        keyName: row.name,
        role: row.role,
        projectId: row.projectId,
        projectName: row.project.name,
        protectedLabels: row.project.protectedLabels,
      };
      cache.set(hash, principal);
      // Best effort, at most once per cache period per key.
      void bus
        .write(({ tx }) => tx.apiKey.update({ where: { id: row.id }, data: { lastUsedAt: new Date() } }))
        .catch(() => {});
      return principal;
    },

    createKey: (projectId: string, name: string, role: Role) => bus.write((w) => insertKey(w, projectId, name, role)),

    async listKeys(projectId: string): Promise<KeyView[]> {
      const rows = await db.apiKey.findMany({ where: { projectId }, orderBy: { createdAt: "asc" } });
      return rows.map(keyView);
    },

    async deleteKey(projectId: string, id: string): Promise<void> {
      await bus.write(async ({ tx, record }) => {
        // The project's row is locked first: two deletes of its last two admin keys, each counting the other, would
        // otherwise both see two admins and both delete. Locked, the second counts after the first has committed.
        // (NO KEY UPDATE: enough against another delete, and it leaves the project's other writes alone.)
        await tx.$executeRaw`SELECT 1 FROM projects WHERE id = ${projectId}::uuid FOR NO KEY UPDATE`;
        const key = await tx.apiKey.findFirst({ where: { id, projectId } });
        if (!key) throw notFound(`key '${id}'`);
        if (key.role === "admin") {
          const admins = await tx.apiKey.count({ where: { projectId, role: "admin" } });
          if (admins <= 1)
            throw new AppError(
              "conflict",
              "cannot delete the project's last admin key; create another admin key first",
            );
        }
        await tx.apiKey.delete({ where: { id } });
        record({ kind: "key.deleted", projectId, keyId: id });
      });
    },

    async createProject(name: string): Promise<{ project: ProjectView; adminKey: CreatedKey }> {
      const secret = generateKey();
      try {
        return await bus.write(async (w) => {
          const project = await w.tx.project.create({ data: { name } });
          w.record({ kind: "project.created", projectId: project.id });
          const adminKey = await insertKey(w, project.id, "admin", "admin", secret);
          return { project: projectView(project), adminKey };
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw new AppError("conflict", `project '${name}' already exists`);
        throw err;
      }
    },

    async listProjects(): Promise<ProjectView[]> {
      const rows = await db.project.findMany({ orderBy: { name: "asc" } });
      return rows.map(projectView);
    },

    /** Replaces a project's list of protected labels; keys see the change at once (their cache is dropped). */
    async setProtectedLabels(projectId: string, labels: string[]): Promise<ProjectView> {
      const row = await bus.write(async ({ tx, record }) => {
        const updated = await tx.project.update({
          where: { id: projectId },
          data: { protectedLabels: [...new Set(labels)].sort() },
        });
        record({ kind: "project.updated", projectId });
        return updated;
      });
      return projectView(row);
    },

    async findProject(name: string): Promise<ProjectView | null> {
      const row = await db.project.findUnique({ where: { name } });
      return row && projectView(row);
    },

    /**
     * First start: the `default` project and its admin key. PROMPTREG_ADMIN_KEY, when set, becomes an admin key
     * of `default` (added if it is not there yet); otherwise a key is generated once, printed, and written with
     * mode 0600 into the data folder.
     */
    async bootstrap(options: {
      adminKey?: string;
      dataDir: string;
      logger: Logger;
    }): Promise<{ generatedKeyFile?: string }> {
      const project =
        (await db.project.findUnique({ where: { name: DEFAULT_PROJECT } })) ??
        (await bus.write(async ({ tx, record }) => {
          // An upsert: another instance starting on the same database may be creating it too.
          const row = await tx.project.upsert({
            where: { name: DEFAULT_PROJECT },
            create: { name: DEFAULT_PROJECT },
            update: {},
          });
          record({ kind: "project.created", projectId: row.id });
          return row;
        }));
      if (options.adminKey) {
        const hash = hashKey(options.adminKey);
        const existing = await db.apiKey.findUnique({ where: { hash } });
        if (existing && existing.projectId !== project.id)
          throw new Error("PROMPTREG_ADMIN_KEY is already a key of another project");
        if (!existing)
          await bus.write((w) => insertKey(w, project.id, "admin (PROMPTREG_ADMIN_KEY)", "admin", options.adminKey));
        else if (existing.role !== "admin")
          throw new Error("PROMPTREG_ADMIN_KEY is already stored with a non-admin role");
        return {};
      }
      const admins = await db.apiKey.count({ where: { projectId: project.id, role: "admin" } });
      if (admins > 0) return {};
      const created = await bus.write((w) => insertKey(w, project.id, "admin", "admin"));
      await mkdir(options.dataDir, { recursive: true });
      const file = path.join(options.dataDir, "admin-key");
      await writeFile(file, `${created.key}\n`, { mode: 0o600 });
      options.logger.warn(
        { file },
        "generated the admin key of project 'default' and wrote it to the file (mode 0600); it is shown once on stderr",
      );
      // The announcement goes in the same write as the key: log lines are written asynchronously and may land after it.
      process.stderr.write(
        `\npromptreg: generated the admin key of project 'default'; shown once here, kept in ${file} (mode 0600):\n${created.key}\n\n`,
      );
      return { generatedKeyFile: file };
    },
  };
}

function keyView(row: {
  id: string;
  name: string;
  role: Role;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}): KeyView {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    prefix: row.prefix,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
  };
}

function projectView(row: { id: string; name: string; protectedLabels: string[]; createdAt: Date }): ProjectView {
  return { id: row.id, name: row.name, protectedLabels: row.protectedLabels, createdAt: row.createdAt.toISOString() };
}
