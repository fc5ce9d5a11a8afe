// Prompts and their versions: the only module that writes the prompts and prompt_versions tables.
import { createHash, randomUUID } from "node:crypto";
import semver from "semver";
import {
  LATEST_LABEL,
  PROMPT_NAME_PATTERN,
  type CreatePromptBody,
  type PromptType,
  type PromptVersion,
  type PublishVersionBody,
  type Template,
  type VariableSpec,
} from "@promptreg/client/contract";
import { TemplateError, analyzeTemplate, checkVariablesSchema } from "@promptreg/client/render";
import type { Principal } from "../auth/principal.js";
import { requireRole } from "../auth/principal.js";
import { isUniqueViolation, type Db } from "../db/client.js";
import type { InvalidationBus } from "../db/invalidation.js";
import { decodeCursor, encodeCursor } from "../http/cursor.js";
import { AppError, notFound } from "../http/errors.js";
import {
  checkSettableLabel,
  labelEventAt,
  labelView,
  requireLabelRole,
  setLabelInTx,
} from "../labels/labels.service.js";
import { diffVersions } from "./diff.js";
import { TX_OPTIONS, findPrompt, findVersion, lockPrompt } from "./lookup.js";
import { DEFAULT_REF, parseRef, type Ref } from "./refs.js";
import { ResolveCache } from "./resolve-cache.js";
import { contentHash, contractOf, pickVersion, requiredBump, type RequiredBump } from "./versioning.js";

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

function versionView(prompt: { name: string; type: PromptType }, row: VersionRow, label?: string): PromptVersion {
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

export interface PublishOutcome {
  created: boolean;
  version: PromptVersion;
  previousVersion: string | null;
  /** What the change needed from the highest version; null when nothing would be created. */
  requiredBump: RequiredBump | null;
}

/** Thrown out of a dry run's transaction so that everything it wrote is rolled back; carries the answer. */
class DryRun {
  constructor(readonly outcome: PublishOutcome) {}
}

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
        const best = semver.maxSatisfying(
          all.map((v) => v.version),
          ref.range,
        );
        if (!best) throw notFound(`a version of prompt '${name}' satisfying '${ref.range}'`);
        return versionView(prompt, await findVersion(db, prompt.id, name, best));
      }
      case "labelAt": {
        const event = await labelEventAt(db, prompt.id, ref.label, ref.at);
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
      const existing = await db.prompt.findUnique({
        where: { projectId_name: { projectId: p.projectId, name: body.name } },
      });
      if (existing) throw new AppError("conflict", `prompt '${body.name}' already exists`);
      try {
        const row = await db.prompt.create({
          data: {
            projectId: p.projectId,
            name: body.name,
            type: body.type,
            description: body.description ?? "",
            tags: body.tags ?? [],
          },
        });
        return promptMeta(row);
      } catch (err) {
        if (isUniqueViolation(err)) throw new AppError("conflict", `prompt '${body.name}' already exists`);
        throw err;
      }
    },

    async list(p: Principal, q: { prefix?: string; tag?: string; q?: string; cursor?: string; limit: number }) {
      const after = q.cursor
        ? decodeCursor(q.cursor, (name) => (PROMPT_NAME_PATTERN.test(name) ? name : null))
        : undefined;
      const folder = q.prefix?.replace(/\/+$/, "");
      const rows = await db.prompt.findMany({
        where: {
          projectId: p.projectId,
          ...(folder
            ? { name: { startsWith: `${escapeLike(folder)}/`, ...(after ? { gt: after } : {}) } }
            : after
              ? { name: { gt: after } }
              : {}),
          ...(q.tag ? { tags: { has: q.tag } } : {}),
          // A name search: a substring anywhere in the full name, folders included.
          ...(q.q ? { AND: [{ name: { contains: escapeLike(q.q), mode: "insensitive" as const } }] } : {}),
        },
        include: { labels: { include: { version: { select: { version: true } } } } },
        orderBy: { name: "asc" },
        take: q.limit + 1,
      });
      const more = rows.length > q.limit;
      const page = rows.slice(0, q.limit);
      // Counted for this page only: Prisma's `_count` include aggregates every version of the project first, which
      // made a page's cost grow with the registry (5 ms with 100 prompts, 32 ms with 5,000 on the embedded database).
      const counts = await db.promptVersion.groupBy({
        by: ["promptId"],
        where: { promptId: { in: page.map((r) => r.id) } },
        _count: { _all: true },
      });
      const countOf = new Map(counts.map((c) => [c.promptId, c._count._all]));
      const data = page.map((r) => ({
        ...promptMeta(r),
        versionCount: countOf.get(r.id) ?? 0,
        labels: Object.fromEntries(r.labels.map((l) => [l.name, l.version.version])),
      }));
      return { data, nextCursor: more ? encodeCursor(data[data.length - 1]!.name) : null };
    },

    async get(p: Principal, name: string) {
      const prompt = await findPrompt(db, p.projectId, name);
      const [labels, count, recent] = await Promise.all([
        db.label.findMany({
          where: { promptId: prompt.id },
          include: { version: { select: { version: true } } },
          orderBy: { name: "asc" },
        }),
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

    /** The folders directly inside `prefix` (the project's root when absent), with how many prompts each holds. */
    async folders(p: Principal, prefix?: string): Promise<{ name: string; prompts: number }[]> {
      const folder = prefix?.replace(/\/+$/, "") ?? "";
      const start = folder ? `${folder}/` : "";
      const pattern = `${start.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      const rows = await db.$queryRaw<{ segment: string; prompts: number }[]>`
        SELECT split_part(substr(name, ${start.length + 1}::int), '/', 1) AS segment, count(*)::int AS prompts
        FROM prompts
        WHERE project_id = ${p.projectId}::uuid AND name LIKE ${pattern} AND strpos(substr(name, ${start.length + 1}::int), '/') > 0
        GROUP BY 1 ORDER BY 1 LIMIT 1000`;
      return rows.map((r) => ({ name: start + r.segment, prompts: r.prompts }));
    },

    async remove(p: Principal, name: string) {
      requireRole(p, "admin");
      const prompt = await findPrompt(db, p.projectId, name);
      await db.prompt.delete({ where: { id: prompt.id } });
      await publishChange(p, name);
    },

    /**
     * Publishes a version; `created: false` when the content equals the latest version's (nothing is written).
     * A dry run goes through the very same transaction and rolls it back, so its answer is the publish's own.
     */
    async publish(
      p: Principal,
      name: string,
      body: PublishVersionBody,
      options: { dryRun?: boolean } = {},
    ): Promise<PublishOutcome> {
      requireRole(p, "write");
      const type: PromptType = typeof body.template === "string" ? "text" : "chat";
      for (const label of body.labels ?? []) {
        checkSettableLabel(label);
        requireLabelRole(p, label);
      }
      const config = body.config ?? {};
      const variablesSchema = body.variablesSchema ?? null;
      let variables: VariableSpec[];
      try {
        if (variablesSchema) checkVariablesSchema(variablesSchema);
        variables = analyzeTemplate(body.template, variablesSchema, { publishing: true });
      } catch (err) {
        // The renderer says where, in the message and as details ({line, column, messageIndex}), in one format.
        if (err instanceof TemplateError) throw new AppError("invalid_template", err.message, err.details);
        throw err;
      }
      const hash = contentHash({ type, template: body.template, config, variablesSchema });

      const result = await db
        .$transaction(async (tx) => {
          // Create-if-missing without a race: concurrent first publishes wait on the unique index, then all lock the row.
          await tx.$executeRaw`
          INSERT INTO prompts (id, project_id, name, type, description, tags, updated_at)
          VALUES (${randomUUID()}::uuid, ${p.projectId}::uuid, ${name}, ${type}::"PromptType", ${body.description ?? ""}, ${body.tags ?? []}::text[], now())
          ON CONFLICT (project_id, name) DO NOTHING`;
          const prompt = await findPrompt(tx, p.projectId, name);
          await lockPrompt(tx, prompt.id);
          if (prompt.type !== type)
            throw new AppError(
              "validation_error",
              `prompt '${name}' is a ${prompt.type} prompt; this template is ${type}`,
              {
                issues: [
                  {
                    path: "body.template",
                    message: `must be ${prompt.type === "text" ? "a string" : "a list of messages"}`,
                  },
                ],
              },
            );
          if (body.description !== undefined || body.tags !== undefined)
            await tx.prompt.update({
              where: { id: prompt.id },
              data: { description: body.description, tags: body.tags },
            });

          const highest = await tx.promptVersion.findFirst({
            where: { promptId: prompt.id },
            orderBy: [{ major: "desc" }, { minor: "desc" }, { patch: "desc" }],
          });
          let row: VersionRow;
          let created: boolean;
          let required: RequiredBump | null = null;
          if (highest && highest.contentHash === hash && body.version === undefined) {
            row = highest;
            created = false;
          } else {
            required = highest
              ? requiredBump(contractOf(versionView(prompt, highest)), {
                  template: body.template,
                  config,
                  variablesSchema,
                  variables,
                })
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
            await setLabelInTx(tx, {
              promptId: prompt.id,
              label: LATEST_LABEL,
              version: row,
              actor: p.keyName,
              reason: `published ${version}`,
              action: "set",
            });
          }
          for (const label of body.labels ?? []) {
            const current = await tx.label.findUnique({
              where: { promptId_name: { promptId: prompt.id, name: label } },
            });
            if (current?.versionId !== row.id)
              await setLabelInTx(tx, {
                promptId: prompt.id,
                label,
                version: row,
                actor: p.keyName,
                reason: body.commitMessage || `published ${row.version}`,
                action: "set",
              });
          }
          const outcome = {
            created,
            version: versionView(prompt, row),
            previousVersion: highest?.version ?? null,
            requiredBump: required,
          };
          if (options.dryRun) throw new DryRun(outcome);
          return outcome;
        }, TX_OPTIONS)
        .catch((err: unknown) => {
          if (err instanceof DryRun) return err.outcome;
          throw err;
        });
      if (options.dryRun) return result;
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
      if (!exact)
        throw new AppError("validation_error", `'${version}' is not a version`, {
          issues: [{ path: "params.version", message: "must be MAJOR.MINOR.PATCH" }],
        });
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
      // Ends with a newline like every JSON answer (see app.ts).
      const body = Buffer.from(`${JSON.stringify(version)}\n`);
      const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
      if (cacheable) cache.set(cacheKey(pk, refText), { body, etag, version, epoch });
      return { body, etag, version };
    },

    async diff(p: Principal, name: string, fromRef: string, toRef: string) {
      // Both refs are parsed before either lookup starts: a bad `to` must not leave the `from` lookup running with
      // nobody to catch its rejection (an unhandled rejection ends the process).
      const refs = [parseRef(fromRef), parseRef(toRef)] as const;
      const [from, to] = await Promise.all([resolveRef(p, name, refs[0]), resolveRef(p, name, refs[1])]);
      return diffVersions(from, to);
    },
  };
}

// Prisma turns startsWith into LIKE without escaping its wildcards: `_` (allowed in names) and `%` would match
// other folders. PostgreSQL's LIKE escape character is the backslash.
const escapeLike = (text: string) => text.replace(/[\\%_]/g, "\\$&");

function promptMeta(row: {
  id: string;
  name: string;
  type: PromptType;
  description: string;
  tags: string[];
  createdAt: Date;
  updatedAt: Date;
}) {
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
