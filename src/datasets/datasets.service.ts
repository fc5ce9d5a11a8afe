// A project's datasets (the only writer of `datasets`, `dataset_versions` and `dataset_items`): named sets of test
// cases that experiments run prompt versions on. Every change to the items makes a new version of the dataset, and
// every version stays readable: an item's revisions are rows with the range of versions they belong to
// (`from_version` up to `to_version`), so a change closes the revisions it replaces and adds new ones, and reading
// version v is "from_version <= v < to_version". An item keeps its id across versions.
import type { Dataset, DatasetChange, DatasetItem, DatasetVersionSchema } from "@promptreg/client/contract";
import type { z } from "zod";
import { type Principal, requireRole } from "../auth/principal.js";
import type { Database, Tx } from "../db/client.js";
import { isUniqueViolation } from "../db/client.js";
import type { InvalidationBus } from "../db/invalidation.js";
import type { ReadDb } from "../db/writes.js";
import { Prisma } from "../generated/prisma/client.js";
import { decodeCursor, encodeCursor } from "../http/cursor.js";
import { AppError, notFound } from "../http/errors.js";
import { invalidRequest, type Issue } from "../http/validate.js";
import { judgeContext } from "../evals/judge.js";
import { spanText } from "../evals/span-text.js";
import { type CheckedItem, checkItem, createItemIds, DATASET_LIMITS } from "./items.js";

type Source = z.infer<typeof DatasetVersionSchema>["source"];

interface DatasetRow {
  id: string;
  name: string;
  description: string;
  version: number;
  itemCount: number;
  createdAt: Date;
  updatedAt: Date;
}

interface ItemRow {
  item_id: string;
  variables: Record<string, unknown>;
  expected: unknown;
  metadata: Record<string, unknown>;
  from_version: number;
}

/** Rows written per INSERT: a statement's parameters stay small however large the import. */
const INSERT_CHUNK_ITEMS = 1_000;
/** The longest a write of a whole dataset may take (an import of the largest one). */
const WRITE_TIMEOUT_MS = 120_000;

const view = (r: DatasetRow): Dataset => ({
  name: r.name,
  description: r.description,
  version: r.version,
  itemCount: r.itemCount,
  createdAt: r.createdAt.toISOString(),
  updatedAt: r.updatedAt.toISOString(),
});

const itemView = (r: ItemRow): DatasetItem => ({
  id: r.item_id,
  variables: r.variables,
  expected: r.expected,
  metadata: r.metadata,
  version: r.from_version,
});

/**
 * The revisions that make up version `version` of a dataset (alias `i`), the dataset and version given as SQL values
 * or columns (experiments read items of the version they ran on).
 */
export const inDatasetVersion = (datasetId: Prisma.Sql, version: Prisma.Sql) => Prisma.sql`
  i.dataset_id = ${datasetId} AND i.from_version <= ${version} AND (i.to_version IS NULL OR i.to_version > ${version})`;
const inVersion = (datasetId: string, version: number) =>
  inDatasetVersion(Prisma.sql`${datasetId}::uuid`, Prisma.sql`${version}`);

export type DatasetsService = ReturnType<typeof createDatasetsService>;

export function createDatasetsService({
  db,
  database,
  bus,
  now = Date.now,
}: {
  db: ReadDb;
  database: Database;
  bus: InvalidationBus;
  now?: () => number;
}) {
  const newId = createItemIds(now);

  async function find(p: Principal, name: string): Promise<DatasetRow> {
    const row = await db.dataset.findUnique({ where: { projectId_name: { projectId: p.projectId, name } } });
    if (!row) throw notFound(`dataset '${name}'`);
    return row;
  }

  /** The version asked for (default the latest), or a 404 naming the versions there are. */
  function versionOf(dataset: DatasetRow, asked: number | undefined): number {
    if (asked === undefined) return dataset.version;
    if (asked < 1 || asked > dataset.version)
      throw notFound(
        `version ${asked} of dataset '${dataset.name}' (${dataset.version === 0 ? "it has no items yet" : `its versions are 1 to ${dataset.version}`})`,
      );
    return asked;
  }

  /**
   * Writes a change of items as the dataset's next version, all or nothing: `items` added or replaced by id (with
   * `replaceAll`, every current item not among them removed), or `removeId` removed. Items without an id get one.
   */
  async function change(
    p: Principal,
    name: string,
    source: Source,
    edit: { items: CheckedItem[]; replaceAll?: boolean } | { removeId: string },
  ): Promise<DatasetChange> {
    requireRole(p, "write");
    const result = await bus.write(
      async ({ tx, record }) => {
        // The row lock orders concurrent changes: each gets its own version.
        const [dataset] = await tx.$queryRaw<DatasetRow[]>`
          SELECT id::text AS id, name, description, version, item_count AS "itemCount", created_at AS "createdAt",
            updated_at AS "updatedAt"
          FROM datasets WHERE project_id = ${p.projectId}::uuid AND name = ${name} FOR UPDATE`;
        if (!dataset) throw notFound(`dataset '${name}'`);
        const version = dataset.version + 1;
        let added = 0;
        let replaced = 0;
        let removed = 0;
        let ids: string[] | undefined;
        if ("removeId" in edit) {
          removed = await tx.$executeRaw`
            UPDATE dataset_items SET to_version = ${version}
            WHERE dataset_id = ${dataset.id}::uuid AND item_id = ${edit.removeId} AND to_version IS NULL`;
          if (removed === 0) throw notFound(`item '${edit.removeId}' of dataset '${name}'`);
        } else {
          ids = edit.items.map((item) => item.id || newId());
          const closed = await tx.$queryRaw<{ item_id: string }[]>`
            UPDATE dataset_items SET to_version = ${version}
            WHERE dataset_id = ${dataset.id}::uuid AND to_version IS NULL
              ${edit.replaceAll ? Prisma.empty : Prisma.sql`AND item_id = ANY(${ids})`}
            RETURNING item_id`;
          const written = new Set(ids);
          replaced = closed.filter((c) => written.has(c.item_id)).length;
          removed = closed.length - replaced;
          added = ids.length - replaced;
          for (let at = 0; at < edit.items.length; at += INSERT_CHUNK_ITEMS)
            await insertItems(tx, dataset.id, version, edit.items.slice(at, at + INSERT_CHUNK_ITEMS), ids.slice(at));
        }
        const itemCount = dataset.itemCount + added - removed;
        if (itemCount > DATASET_LIMITS.maxItems)
          throw new AppError(
            "limit_exceeded",
            `dataset '${name}' would hold ${itemCount} items; at most ${DATASET_LIMITS.maxItems}`,
            { limit: { limit: "items in a dataset", max: DATASET_LIMITS.maxItems, found: itemCount } },
          );
        const [row] = await tx.$queryRaw<DatasetRow[]>`
          UPDATE datasets SET version = ${version}, item_count = ${itemCount}, updated_at = now()
          WHERE id = ${dataset.id}::uuid
          RETURNING id::text AS id, name, description, version, item_count AS "itemCount", created_at AS "createdAt",
            updated_at AS "updatedAt"`;
        await tx.$executeRaw`
          INSERT INTO dataset_versions (dataset_id, version, source, item_count)
          VALUES (${dataset.id}::uuid, ${version}, ${source}, ${itemCount})`;
        record({ kind: "dataset.changed", projectId: p.projectId, name, action: "updated", version });
        return { dataset: view(row!), added, replaced, removed, ids };
      },
      { timeout: WRITE_TIMEOUT_MS, maxWait: 10_000 },
    );
    return result;
  }

  async function insertItems(tx: Tx, datasetId: string, version: number, items: CheckedItem[], ids: string[]) {
    const rows = JSON.stringify(
      items.map((item, i) => ({
        item_id: ids[i],
        variables: item.variables,
        expected: item.expected,
        metadata: item.metadata,
      })),
    );
    await tx.$executeRaw`
      INSERT INTO dataset_items (dataset_id, item_id, from_version, variables, expected, metadata)
      SELECT ${datasetId}::uuid, r.item_id, ${version}, r.variables, r.expected, r.metadata
      FROM jsonb_to_recordset(${rows}::jsonb) AS r(item_id text, variables jsonb, expected jsonb, metadata jsonb)`;
  }

  /** Items of a request checked, with duplicate ids refused (one write cannot give an item two contents). */
  function checkAll(values: { value: unknown; path: string }[]): CheckedItem[] {
    const issues: Issue[] = [];
    const items: { item: CheckedItem; path: string }[] = [];
    for (const { value, path } of values) {
      const checked = checkItem(value, path);
      if ("issues" in checked) issues.push(...checked.issues);
      else items.push({ item: checked.item, path });
      if (issues.length >= DATASET_LIMITS.maxIssues) break;
    }
    issues.push(...duplicateIds(items));
    if (issues.length) throw invalidRequest("body", issues.slice(0, DATASET_LIMITS.maxIssues));
    return items.map((i) => i.item);
  }

  return {
    async list(p: Principal): Promise<Dataset[]> {
      const rows = await db.dataset.findMany({ where: { projectId: p.projectId }, orderBy: { name: "asc" } });
      return rows.map(view);
    },

    async get(p: Principal, name: string): Promise<Dataset> {
      return view(await find(p, name));
    },

    async create(p: Principal, body: { name: string; description: string }): Promise<Dataset> {
      requireRole(p, "write");
      try {
        return await bus.write(async ({ tx, record }) => {
          const row = await tx.dataset.create({
            data: { projectId: p.projectId, name: body.name, description: body.description },
          });
          record({ kind: "dataset.changed", projectId: p.projectId, name: body.name, action: "created", version: 0 });
          return view(row);
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw new AppError("conflict", `dataset '${body.name}' already exists`);
        throw err;
      }
    },

    /** Deletes the dataset with every version of its items. */
    async remove(p: Principal, name: string): Promise<void> {
      requireRole(p, "write");
      const dataset = await find(p, name);
      await bus.write(
        async ({ tx, record }) => {
          const { count } = await tx.dataset.deleteMany({ where: { id: dataset.id } });
          if (count === 0) throw notFound(`dataset '${name}'`);
          record({
            kind: "dataset.changed",
            projectId: p.projectId,
            name,
            action: "deleted",
            version: dataset.version,
          });
        },
        { timeout: WRITE_TIMEOUT_MS },
      );
    },

    async versions(p: Principal, name: string) {
      const dataset = await find(p, name);
      const rows = await db.datasetVersion.findMany({ where: { datasetId: dataset.id }, orderBy: { version: "desc" } });
      return rows.map((r) => ({
        version: r.version,
        source: r.source as Source,
        itemCount: r.itemCount,
        createdAt: r.createdAt.toISOString(),
      }));
    },

    /** A page of a version's items (default the latest), in id order. */
    async items(p: Principal, name: string, query: { version?: number; cursor?: string; limit: number }) {
      const dataset = await find(p, name);
      const version = versionOf(dataset, query.version);
      const after = query.cursor === undefined ? null : decodeCursor(query.cursor, (position) => position);
      const { rows } = await database.query<ItemRow>(Prisma.sql`
        SELECT i.item_id, i.variables, i.expected, i.metadata, i.from_version FROM dataset_items i
        WHERE ${inVersion(dataset.id, version)} ${after === null ? Prisma.empty : Prisma.sql`AND i.item_id > ${after}`}
        ORDER BY i.item_id LIMIT ${query.limit + 1}`);
      const page = rows.slice(0, query.limit);
      return {
        data: page.map(itemView),
        nextCursor: rows.length > query.limit ? encodeCursor(page[page.length - 1]!.item_id) : null,
        version,
      };
    },

    /** Whether `p` may change dataset `name` (403 or 404 if not). */
    async writable(p: Principal, name: string): Promise<void> {
      requireRole(p, "write");
      await find(p, name);
    },

    /** Adds or replaces items by id (items without one are new): the next version. */
    async upsertItems(p: Principal, name: string, items: unknown[]): Promise<DatasetChange> {
      const checked = checkAll(items.map((value, i) => ({ value, path: `body.items.${i}` })));
      return change(p, name, "items", { items: checked });
    },

    async removeItem(p: Principal, name: string, id: string): Promise<DatasetChange> {
      return change(p, name, "delete", { removeId: id });
    },

    /**
     * Stores the items of an imported file (read and checked whole by the caller), added or replaced by id, or with
     * `replace` as the dataset's whole content.
     */
    async importItems(
      p: Principal,
      name: string,
      items: { line: number; item: CheckedItem }[],
      replace: boolean,
    ): Promise<DatasetChange> {
      requireRole(p, "write");
      await find(p, name);
      const issues = duplicateIds(items.map(({ line, item }) => ({ item, path: `body.line.${line}` })));
      if (issues.length) throw invalidRequest("body", issues.slice(0, DATASET_LIMITS.maxIssues));
      const { ids: _ids, ...result } = await change(p, name, "import", {
        items: items.map((i) => i.item),
        replaceAll: replace,
      });
      return result;
    },

    /**
     * Adds production spans as items: each span's template variables, and its answer as `expected` when asked. A
     * span that is not found, or carries no variables, is a 422 naming it.
     */
    async addSpans(
      p: Principal,
      name: string,
      body: { spans: { traceId: string; spanId: string }[]; expected: boolean },
    ): Promise<DatasetChange> {
      requireRole(p, "write");
      await find(p, name);
      const keys = JSON.stringify(body.spans.map((s) => ({ t: s.traceId, s: s.spanId })));
      const { rows } = await database.query<{ trace_id: string; span_id: string; attributes: Record<string, unknown> }>(
        Prisma.sql`
        SELECT s.trace_id, s.span_id, s.attributes FROM spans s
          JOIN jsonb_to_recordset(${keys}::jsonb) AS k(t text, s text) ON s.trace_id = k.t AND s.span_id = k.s
        WHERE s.project_id = ${p.projectId}::uuid`,
      );
      const byKey = new Map(rows.map((r) => [`${r.trace_id}:${r.span_id}`, r]));
      const issues: Issue[] = [];
      const values = body.spans.map((s, i) => {
        const span = byKey.get(`${s.traceId}:${s.spanId}`);
        if (!span) {
          issues.push({ path: `body.spans.${i}`, message: `span ${s.traceId}/${s.spanId} not found in this project` });
          return { value: null, path: `body.spans.${i}` };
        }
        const { variables } = judgeContext(span.attributes);
        if (typeof span.attributes["llm.prompt_template.variables"] !== "string")
          issues.push({
            path: `body.spans.${i}`,
            message: `span ${s.spanId} carries no template variables (llm.prompt_template.variables)`,
          });
        const output = body.expected ? spanText(span.attributes).output : null;
        return {
          value: {
            variables,
            expected: output,
            metadata: { source: "span", traceId: s.traceId, spanId: s.spanId },
          },
          path: `body.spans.${i}`,
        };
      });
      if (issues.length) throw invalidRequest("body", issues.slice(0, DATASET_LIMITS.maxIssues));
      return change(p, name, "spans", { items: checkAll(values) });
    },

    /**
     * A version's items for export, a page at a time (`onPage` awaited before the next is read, so a slow reader
     * holds no more than a page), and the variable names the items use (for a CSV header).
     */
    async exportItems(
      p: Principal,
      name: string,
      askedVersion: number | undefined,
      variableNames: boolean,
      onStart: (names: string[]) => Promise<void> | void,
      onPage: (items: DatasetItem[]) => Promise<void>,
    ): Promise<void> {
      const dataset = await find(p, name);
      const version = versionOf(dataset, askedVersion);
      let names: string[] = [];
      if (variableNames) {
        const { rows } = await database.query<{ name: string }>(Prisma.sql`
          SELECT DISTINCT jsonb_object_keys(i.variables) AS name FROM dataset_items i WHERE ${inVersion(dataset.id, version)}
          ORDER BY 1`);
        names = rows.map((r) => r.name);
      }
      await onStart(names);
      let after: string | null = null;
      for (;;) {
        const rows: ItemRow[] = (
          await database.query<ItemRow>(Prisma.sql`
          SELECT i.item_id, i.variables, i.expected, i.metadata, i.from_version FROM dataset_items i
          WHERE ${inVersion(dataset.id, version)} ${after === null ? Prisma.empty : Prisma.sql`AND i.item_id > ${after}`}
          ORDER BY i.item_id LIMIT ${EXPORT_PAGE}`)
        ).rows;
        if (rows.length === 0) return;
        await onPage(rows.map(itemView));
        if (rows.length < EXPORT_PAGE) return;
        after = rows[rows.length - 1]!.item_id;
      }
    },
  };
}

/** Items read and written per page of an export: at most 256 KiB each, a page holds at most 25 MiB. */
const EXPORT_PAGE = 100;

/** Ids given twice in one write, each named with where its first use was. */
function duplicateIds(items: { item: CheckedItem; path: string }[]): Issue[] {
  const issues: Issue[] = [];
  const seen = new Map<string, string>();
  for (const { item, path } of items) {
    if (!item.id) continue;
    const earlier = seen.get(item.id);
    if (earlier) issues.push({ path: `${path}.id`, message: `the id '${item.id}' is also at ${earlier}` });
    else seen.set(item.id, path);
  }
  return issues;
}
