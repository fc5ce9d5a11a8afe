import {
  DATASET_NAME_PATTERN,
  DatasetChangeSchema,
  DatasetItemPageSchema,
  DatasetListSchema,
  DatasetSchema,
  DatasetVersionListSchema,
} from "@promptreg/client/contract";
import { Router } from "express";
import { z } from "zod";
import { principalOf } from "../auth/principal.js";
import { apiRoute, on } from "../http/api-route.js";
import { AppError } from "../http/errors.js";
import { parse } from "../http/validate.js";
import type { DatasetsService } from "./datasets.service.js";
import {
  CONTENT_TYPES,
  csvHeader,
  csvLine,
  FILE_FORMATS,
  formatOf,
  jsonlLine,
  MAX_CSV_COLUMNS,
  readItems,
} from "./files.js";
import { DATASET_LIMITS, ItemIdSchema } from "./items.js";

const datasetName = z
  .string()
  .regex(DATASET_NAME_PATTERN, "must be 1-100 letters, digits, '_', '.' or '-', starting with a letter or digit");
const NameParams = z.object({ name: datasetName });
const ItemParams = z.object({ name: datasetName, id: ItemIdSchema });
const CreateBody = z.strictObject({
  name: datasetName,
  description: z.string().max(2_000).default(""),
});
const ItemsBody = z.strictObject({
  // Each item is checked by the service (its shape, size and storability), with the item's index in every issue.
  items: z.array(z.unknown()).min(1).max(DATASET_LIMITS.maxItemsPerRequest),
});
const version = z.coerce.number().int().min(1).max(2_147_483_647).optional();
const ItemsQuery = z.strictObject({
  version,
  cursor: z.string().max(1_000).optional(),
  // An item may be 256 KiB: a page holds at most 200 of them.
  limit: z.coerce.number().int().min(1).max(200).default(100),
});
const ExportQuery = z.strictObject({ format: z.enum(FILE_FORMATS).default("jsonl"), version });
const ImportQuery = z.strictObject({
  replace: z
    .enum(["true", "false"])
    .default("false")
    .transform((v) => v === "true"),
});
const FromSpansBody = z.strictObject({
  spans: z
    .array(z.strictObject({ traceId: z.string().regex(/^[0-9a-f]{32}$/), spanId: z.string().regex(/^[0-9a-f]{16}$/) }))
    .min(1)
    .max(DATASET_LIMITS.maxItemsPerRequest),
  /** Keep each span's answer as the item's expected output. */
  expected: z.boolean().default(false),
});

/** The import body is read by its route, as it arrives; the JSON body parser of /api/v1 leaves it alone. */
export const RAW_BODY_PATHS = /^\/datasets\/[^/]+\/import$/;
/** The whole file within this: at the slowest rate worth waiting for, the largest file. */
const IMPORT_TIMEOUT_MS = 5 * 60_000;
/** Imports one instance reads at once: each may hold a whole file in memory. */
const MAX_IMPORTS_IN_FLIGHT = 2;

const tag = "datasets";
export const DATASET_ROUTES = {
  list: apiRoute({
    method: "get",
    path: "/datasets",
    tag,
    summary: "The project's datasets",
    responses: { 200: DatasetListSchema },
  }),
  create: apiRoute({
    method: "post",
    path: "/datasets",
    tag,
    summary: "Create a dataset (empty: version 0)",
    body: CreateBody,
    responses: { 201: DatasetSchema },
  }),
  get: apiRoute({
    method: "get",
    path: "/datasets/:name",
    tag,
    summary: "One dataset, with its latest version",
    params: NameParams,
    responses: { 200: DatasetSchema },
  }),
  remove: apiRoute({
    method: "delete",
    path: "/datasets/:name",
    tag,
    summary: "Delete a dataset with every version of its items",
    params: NameParams,
    responses: { 204: null },
  }),
  versions: apiRoute({
    method: "get",
    path: "/datasets/:name/versions",
    tag,
    summary: "A dataset's versions, newest first, with what made each",
    params: NameParams,
    responses: { 200: DatasetVersionListSchema },
  }),
  items: apiRoute({
    method: "get",
    path: "/datasets/:name/items",
    tag,
    summary: "A page of the items of a version (default the latest), in id order",
    params: NameParams,
    query: ItemsQuery,
    responses: { 200: DatasetItemPageSchema },
  }),
  upsertItems: apiRoute({
    method: "post",
    path: "/datasets/:name/items",
    tag,
    summary: "Add items, or replace them by id: a new version",
    description: `Each item is \`{id?, variables, expected?, metadata?}\`; one without an id gets one. At most ${DATASET_LIMITS.maxItemsPerRequest} items a request.`,
    params: NameParams,
    body: ItemsBody,
    responses: { 200: DatasetChangeSchema },
  }),
  removeItem: apiRoute({
    method: "delete",
    path: "/datasets/:name/items/:id",
    tag,
    summary: "Remove an item: a new version (earlier versions keep it)",
    params: ItemParams,
    responses: { 200: DatasetChangeSchema },
  }),
  fromSpans: apiRoute({
    method: "post",
    path: "/datasets/:name/items/from-spans",
    tag,
    summary: "Add production spans as items: their template variables, and their answer as expected if asked",
    params: NameParams,
    body: FromSpansBody,
    responses: { 200: DatasetChangeSchema },
  }),
  import: apiRoute({
    method: "post",
    path: "/datasets/:name/import",
    tag,
    summary: "Import a JSONL or CSV file of items (added or replaced by id; with replace=true, the whole dataset)",
    description:
      "Streamed in and checked whole: a problem is a 422 naming its line, and nothing of the file is stored. JSONL: one `{id?, variables, expected?, metadata?}` per line. CSV: a header, then a record per item; columns `id`, `expected`, `metadata` (JSON) and `variables` (JSON) are the item's, every other column a variable.",
    params: NameParams,
    query: ImportQuery,
    rawBody: [CONTENT_TYPES.jsonl, CONTENT_TYPES.csv],
    responses: { 200: DatasetChangeSchema },
  }),
  export: apiRoute({
    method: "get",
    path: "/datasets/:name/export",
    tag,
    summary: "Export a version's items (default the latest) as JSONL or CSV",
    params: NameParams,
    query: ExportQuery,
    rawAnswer: [CONTENT_TYPES.jsonl, CONTENT_TYPES.csv],
    responses: { 200: null },
  }),
};

export function datasetRoutes(datasets: DatasetsService): Router {
  const r = Router();
  let importing = 0;

  on(r, DATASET_ROUTES.list, async (_req, res) => {
    res.json({ data: await datasets.list(principalOf(res)) });
  });

  on(r, DATASET_ROUTES.create, async (req, res) => {
    res.status(201).json(await datasets.create(principalOf(res), parse(CreateBody, req.body)));
  });

  on(r, DATASET_ROUTES.get, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    res.json(await datasets.get(principalOf(res), name));
  });

  on(r, DATASET_ROUTES.remove, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    await datasets.remove(principalOf(res), name);
    res.status(204).end();
  });

  on(r, DATASET_ROUTES.versions, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    res.json({ data: await datasets.versions(principalOf(res), name) });
  });

  on(r, DATASET_ROUTES.items, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    res.json(await datasets.items(principalOf(res), name, parse(ItemsQuery, req.query, "query")));
  });

  // Before the route of one item, whose :id would take "from-spans".
  on(r, DATASET_ROUTES.fromSpans, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    res.json(await datasets.addSpans(principalOf(res), name, parse(FromSpansBody, req.body)));
  });

  on(r, DATASET_ROUTES.upsertItems, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    const { items } = parse(ItemsBody, req.body);
    res.json(await datasets.upsertItems(principalOf(res), name, items));
  });

  on(r, DATASET_ROUTES.removeItem, async (req, res) => {
    const { name, id } = parse(ItemParams, req.params, "params");
    res.json(await datasets.removeItem(principalOf(res), name, id));
  });

  on(r, DATASET_ROUTES.import, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    const { replace } = parse(ImportQuery, req.query, "query");
    const p = principalOf(res);
    // Refused before the file is read: no such dataset, or a key that may not write.
    await datasets.writable(p, name);
    const format = formatOf(req.get("content-type"));
    if (importing >= MAX_IMPORTS_IN_FLIGHT) {
      res.set({ Connection: "close", "Retry-After": "5" });
      throw new AppError("unavailable", `${importing} imports are being read by this instance; retry in a few seconds`);
    }
    let items: Awaited<ReturnType<typeof readItems>>;
    importing++;
    try {
      items = await readItems(req, format, { maxBytes: DATASET_LIMITS.maxImportBytes, timeoutMs: IMPORT_TIMEOUT_MS });
    } catch (err) {
      // What is left of a refused file is not read: the connection closes after the answer.
      res.set("Connection", "close");
      throw err;
    } finally {
      importing--;
    }
    res.json(await datasets.importItems(p, name, items, replace));
  });

  on(r, DATASET_ROUTES.export, async (req, res) => {
    const { name } = parse(NameParams, req.params, "params");
    const { format, version } = parse(ExportQuery, req.query, "query");
    // A page is written, then the next read once the client has taken it: a slow reader holds one page.
    const write = (text: string) =>
      new Promise<void>((resolve, reject) => {
        if (res.write(text)) resolve();
        else {
          res.once("drain", resolve);
          res.once("close", () => reject(new Error("the client went away")));
        }
      });
    let names: string[] = [];
    try {
      await datasets.exportItems(
        principalOf(res),
        name,
        version,
        format === "csv",
        async (variableNames) => {
          if (variableNames.length > MAX_CSV_COLUMNS)
            throw new AppError(
              "limit_exceeded",
              `the items use ${variableNames.length} variable names; a CSV export has at most ${MAX_CSV_COLUMNS} columns of them: export as JSONL`,
            );
          names = variableNames;
          res
            .status(200)
            .type(CONTENT_TYPES[format])
            .set("Content-Disposition", `attachment; filename="${name}.${format}"`);
          if (format === "csv") await write(csvHeader(names));
        },
        async (items) => {
          await write(items.map((item) => (format === "csv" ? csvLine(names, item) : jsonlLine(item))).join(""));
        },
      );
    } catch (err) {
      // Once the file has begun, an error can only cut it short: the connection is closed without its end.
      if (res.headersSent) return void res.destroy(err as Error);
      throw err;
    }
    res.end();
  });

  return r;
}
