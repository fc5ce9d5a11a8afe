// Prompts and their versions: the only module that writes the prompts and prompt_versions tables.
import { createHash, randomUUID } from "node:crypto";
import semver from "semver";
import {
  LATEST_LABEL,
  type CreatePromptBody,
  type PromptType,
  type PromptVersion,
  type PublishVersionBody,
  type Template,
  type VariableSpec,
} from "@promptreg/client/contract";
import { analyzeTemplate, checkVariablesSchema } from "@promptreg/client/render";
import type { Principal } from "../auth/principal.js";
import { requireRole } from "../auth/principal.js";
import { isUniqueViolation, type Db } from "../db/client.js";
import type { InvalidationBus } from "../db/invalidation.js";
import { decodeCursor, encodeCursor } from "../http/cursor.js";
import { AppError, notFound } from "../http/errors.js";
import { checkSettableLabel, labelView, requireLabelRole, setLabelInTx } from "../labels/labels.service.js";
import { diffVersions } from "./diff.js";
import { TX_OPTIONS, findPrompt, findVersion, lockPrompt } from "./lookup.js";
import { DEFAULT_REF, parseRef, type Ref } from "./refs.js";
import { ResolveCache } from "./resolve-cache.js";
import { contentHash, contractOf, pickVersion, requiredBump } from "./versioning.js";

type VersionRow = {
  id: string;
  promptId: string;
  version: string;
  template: unknown;
  config: unknown;
  variables: unknown;
  variablesSchema: unknown;
  commitMessage: string;
  author: string;
  contentHash: string;
  createdAt: Date;
};

export function versionView(prompt: { name: string; type: PromptType }, row: VersionRow, label?: string): PromptVersion {
  return {
    id: row.id,
    promptId: row.promptId,
    name: prompt.name,
    type: prompt.type,
    version: row.version,
    template: row.template as Template,
    config: (row.config ?? {}) as Record<string, unknown>,
    variables: row.variables as VariableSpec[],
    variablesSchema: (row.variablesSchema ?? null) as Record<string, unknown> | null,
    commitMessage: row.commitMessage,
    author: row.author,
    contentHash: row.contentHash,
    createdAt: row.createdAt.toISOString(),
    ...(label ? { label } : {}),
  };
}

export interface ResolvedBody {
  /** The JSON body, serialized and encoded once, served from memory afterwards. */
  body: Buffer;
  etag: string;
  version: PromptVersion;
}

export type PromptsService = ReturnType<typeof createPromptsService>;

export function createPromptsService({ db, bus, cacheSize }: { db: Db; bus: InvalidationBus; cacheSize: number }) {
  const cache = new ResolveCache(cacheSize);
  // The resolve cache's own key of a prompt; the bus's text form of a topic is none of its business.
  const promptKey = (projectId: string, name: string) => `${projectId}:${name}`;
  bus.subscribe((topic) => {
    if (topic.kind === "all") cache.clear();
    else if (topic.kind === "prompt") cache.invalidate(promptKey(topic.projectId, topic.name));
  });
  const publishChange = (p: Principal, name: string) => bus.publish({ kind: "prompt", projectId: p.projectId, name });

  const cacheKey = (pk: string, refText: string) => `${pk}\u0000${refText}`;

  function cached(p: Principal, name: string, refText: string = DEFAULT_REF): ResolvedBody | undefined {
    if (!bus.healthy) return undefined;
    const pk = promptKey(p.projectId, name);
    return cache.get(pk, cacheKey(pk, refText));
  }

  async function resolveRef(p: Principal, name: string, ref: Ref): Promise<PromptVersion> {
    const prompt = await findPrompt(db, p.projectId, name);
    switch (ref.kind) {
      case "label": {
        const label = await db.label.findUnique({
          where: { promptId_name: { promptId: prompt.id, name: ref.label } },
          include: { version: true },
        });
        if (!label) throw notFound(`label '${ref.label}' of prompt '${name}'`);
        return versionView(prompt, label.version, ref.label);
      }
      case "version":
        return versionView(prompt, await findVersion(db, prompt.id, name, ref.version));
      case "range": {
        const all = await db.promptVersion.findMany({ where: { promptId: prompt.id }, select: { version: true } });
        const best = semver.maxSatisfying(all.map((v) => v.version), ref.range);
        if (!best) throw notFound(`a version of prompt '${name}' satisfying '${ref.range}'`);
        return versionView(prompt, await findVersion(db, prompt.id, name, best));
      }
      case "labelAt": {
        const event = await db.labelEvent.findFirst({
          where: { promptId: prompt.id, label: ref.label, createdAt: { lte: ref.at } },
          orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        });
        const at = ref.at.toISOString();
        if (!event) throw notFound(`label '${ref.label}' of prompt '${name}' at ${at} (it did not exist yet)`);
        if (!event.toVersion) throw notFound(`label '${ref.label}' of prompt '${name}' at ${at} (it had been deleted)`);
        return versionView(prompt, await findVersion(db, prompt.id, name, event.toVersion), ref.label);
      }
    }
  }

  return {
    async create(p: Principal, body: CreatePromptBody) {
      requireRole(p, "write");
      const existing = await db.prompt.findUnique({ where: { projectId_name: { projectId: p.projectId, name: body.name } } });
      if (existing) throw new AppError("conflict", `prompt '${body.name}' already exists`);
      try {
        const row = await db.prompt.create({
          data: { projectId: p.projectId, name: body.name, type: body.type, description: body.description ?? "", tags: body.tags ?? [] },
        });
        return promptMeta(row);
      } catch (err) {
        if (isUniqueViolation(err)) throw new AppError("conflict", `prompt '${body.name}' already exists`);
        throw err;
      }
    },

    async list(p: Principal, q: { prefix?: string; tag?: string; cursor?: string; limit: number }) {
      const after = q.cursor ? decodeCursor(q.cursor, (name) => name || null) : undefined;
      const folder = q.prefix?.replace(/\/+$/, "");
      const rows = await db.prompt.findMany({
        where: {
          projectId: p.projectId,
          ...(folder ? { name: { startsWith: `${folder}/`, ...(after ? { gt: after } : {}) } } : after ? { name: { gt: after } } : {}),
          ...(q.tag ? { tags: { has: q.tag } } : {}),
        },
        include: { labels: { include: { version: { select: { version: true } } } }, _count: { select: { versions: true } } },
        orderBy: { name: "asc" },
        take: q.limit + 1,
      });
      const more = rows.length > q.limit;
      const data = rows.slice(0, q.limit).map((r) => ({
        ...promptMeta(r),
        versionCount: r._count.versions,
        labels: Object.fromEntries(r.labels.map((l) => [l.name, l.version.version])),
      }));
      return { data, nextCursor: more ? encodeCursor(data[data.length - 1]!.name) : null };
    },

    async get(p: Principal, name: string) {
      const prompt = await findPrompt(db, p.projectId, name);
      const [labels, count, recent] = await Promise.all([
        db.label.findMany({ where: { promptId: prompt.id }, include: { version: { select: { version: true } } }, orderBy: { name: "asc" } }),
        db.promptVersion.count({ where: { promptId: prompt.id } }),
        db.promptVersion.findMany({
          where: { promptId: prompt.id },
          orderBy: [{ major: "desc" }, { minor: "desc" }, { patch: "desc" }],
          take: 10,
          select: { version: true, commitMessage: true, author: true, createdAt: true },
        }),
      ]);
      return {
        ...promptMeta(prompt),
        labels: labels.map((row) => labelView(row, p.protectedLabels)),
        versions: {
          count,
          latest: recent[0]?.version ?? null,
          recent: recent.map((v) => ({ ...v, createdAt: v.createdAt.toISOString() })),
        },
      };
    },

    async remove(p: Principal, name: string) {
      requireRole(p, "admin");
      const prompt = await findPrompt(db, p.projectId, name);
      await db.prompt.delete({ where: { id: prompt.id } });
      await publishChange(p, name);
    },

    /** Publishes a version; `created: false` when the content equals the latest version's (nothing is written). */
    async publish(p: Principal, name: string, body: PublishVersionBody): Promise<{ created: boolean; version: PromptVersion }> {
      requireRole(p, "write");
      const type: PromptType = typeof body.template === "string" ? "text" : "chat";
      for (const label of body.labels ?? []) {
        checkSettableLabel(label);
        requireLabelRole(p, label);
      }
      const config = body.config ?? {};
      const variablesSchema = body.variablesSchema ?? null;
      // A TemplateError here is the 422 `invalid_template` (mapped by the error handler).
      if (variablesSchema) checkVariablesSchema(variablesSchema);
      const variables = analyzeTemplate(body.template, variablesSchema, { publishing: true });
      const hash = contentHash({ type, template: body.template, config, variablesSchema });

      const result = await db.$transaction(async (tx) => {
        // Create-if-missing without a race: concurrent first publishes wait on the unique index, then all lock the row.
        await tx.$executeRaw`
          INSERT INTO prompts (id, project_id, name, type, description, tags, updated_at)
          VALUES (${randomUUID()}::uuid, ${p.projectId}::uuid, ${name}, ${type}::"PromptType", ${body.description ?? ""}, ${body.tags ?? []}::text[], now())
          ON CONFLICT (project_id, name) DO NOTHING`;
        const prompt = await findPrompt(tx, p.projectId, name);
        await lockPrompt(tx, prompt.id);
        if (prompt.type !== type)
          throw new AppError("validation_error", `prompt '${name}' is a ${prompt.type} prompt; this template is ${type}`, {
            issues: [{ path: "body.template", message: `must be ${prompt.type === "text" ? "a string" : "a list of messages"}` }],
          });
        if (body.description !== undefined || body.tags !== undefined)
          await tx.prompt.update({ where: { id: prompt.id }, data: { description: body.description, tags: body.tags } });

        const highest = await tx.promptVersion.findFirst({
          where: { promptId: prompt.id },
          orderBy: [{ major: "desc" }, { minor: "desc" }, { patch: "desc" }],
        });
        let row: VersionRow;
        let created: boolean;
        if (highest && highest.contentHash === hash && body.version === undefined) {
          row = highest;
          created = false;
        } else {
          const required = highest
            ? requiredBump(contractOf(versionView(prompt, highest)), { template: body.template, config, variablesSchema, variables })
            : { bump: "major" as const, reasons: ["first version"] };
          const version = pickVersion(highest?.version ?? null, required, body);
          const parsed = semver.parse(version)!;
          row = await tx.promptVersion.create({
            data: {
              promptId: prompt.id,
              version,
              major: parsed.major,
              minor: parsed.minor,
              patch: parsed.patch,
              template: body.template as object,
              config: config as object,
              variables: variables as object[],
              variablesSchema: variablesSchema === null ? undefined : (variablesSchema as object),
              commitMessage: body.commitMessage ?? "",
              author: p.keyName,
              contentHash: hash,
            },
          });
          created = true;
          await tx.prompt.update({ where: { id: prompt.id }, data: { updatedAt: new Date() } });
          await setLabelInTx(tx, { promptId: prompt.id, label: LATEST_LABEL, version: row, actor: p.keyName, reason: `published ${version}`, action: "set" });
        }
        for (const label of body.labels ?? []) {
          const current = await tx.label.findUnique({ where: { promptId_name: { promptId: prompt.id, name: label } } });
          if (current?.versionId !== row.id)
            await setLabelInTx(tx, { promptId: prompt.id, label, version: row, actor: p.keyName, reason: body.commitMessage || `published ${row.version}`, action: "set" });
        }
        return { created, version: versionView(prompt, row) };
      }, TX_OPTIONS);
      // After commit: best effort. A failed notification must not fail the request (a retry would publish twice).
      await publishChange(p, name).catch(() => {});
      return result;
    },

    async listVersions(p: Principal, name: string, page: { limit: number; cursor?: string }) {
      const prompt = await findPrompt(db, p.projectId, name);
      const before = page.cursor ? decodeCursor(page.cursor, (v) => semver.parse(v)) : undefined;
      const rows = await db.promptVersion.findMany({
        where: {
          promptId: prompt.id,
          ...(before
            ? {
                OR: [
                  { major: { lt: before.major } },
                  { major: before.major, minor: { lt: before.minor } },
                  { major: before.major, minor: before.minor, patch: { lt: before.patch } },
                ],
              }
            : {}),
        },
        orderBy: [{ major: "desc" }, { minor: "desc" }, { patch: "desc" }],
        take: page.limit + 1,
      });
      const more = rows.length > page.limit;
      const data = rows.slice(0, page.limit).map((r) => versionView(prompt, r));
      return { data, nextCursor: more ? encodeCursor(data[data.length - 1]!.version) : null };
    },

    async getVersion(p: Principal, name: string, version: string) {
      const exact = semver.valid(version);
      if (!exact) throw new AppError("validation_error", `'${version}' is not a version`, { issues: [{ path: "params.version", message: "must be MAJOR.MINOR.PATCH" }] });
      const prompt = await findPrompt(db, p.projectId, name);
      return versionView(prompt, await findVersion(db, prompt.id, name, exact));
    },

    /**
     * A cached resolution, if there is one. Only valid names and references are ever stored, so callers may look up
     * unvalidated input here first and validate only on a miss (the hot path of every application).
     */
    cached,

    /** Resolves a reference, from memory when it can. */
    async resolve(p: Principal, name: string, refText: string = DEFAULT_REF): Promise<ResolvedBody> {
      const hit = cached(p, name, refText);
      if (hit) return hit;
      const pk = promptKey(p.projectId, name);
      const ref = parseRef(refText);
      // A label at a moment can still change while the moment is in the future: never cache those.
      const cacheable = ref.kind !== "labelAt" && bus.healthy;
      const epoch = cache.epochOf(pk);
      const version = await resolveRef(p, name, ref);
      const body = Buffer.from(JSON.stringify(version));
      const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
      if (cacheable) cache.set(cacheKey(pk, refText), { body, etag, version, epoch });
      return { body, etag, version };
    },

    async diff(p: Principal, name: string, fromRef: string, toRef: string) {
      const [from, to] = await Promise.all([resolveRef(p, name, parseRef(fromRef)), resolveRef(p, name, parseRef(toRef))]);
      return diffVersions(from, to);
    },
  };
}

function promptMeta(row: { id: string; name: string; type: PromptType; description: string; tags: string[]; createdAt: Date; updatedAt: Date }) {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    description: row.description,
    tags: row.tags,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}
