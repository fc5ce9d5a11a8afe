import { Router } from "express";
import { z } from "zod";
import { PriceListSchema, PriceSchema } from "@promptreg/client/contract";
import { principalOf } from "../auth/principal.js";
import { apiRoute, on } from "../http/api-route.js";
import { Prisma } from "../generated/prisma/client.js";
import { parse } from "../http/validate.js";
import type { PricesService } from "./prices.service.js";

// Text that PostgreSQL can store and a btree can index (the price lookup at ingest).
const modelName = z
  .string()
  .min(1, "must not be empty")
  .max(512)
  .refine((s) => !s.includes("\u0000"), "must not contain NUL characters");

// USD per million tokens, kept exact: a JSON number or a decimal string, never negative.
const perMTok = z
  .union([
    z.number().finite().nonnegative().max(1e9),
    z.string().regex(/^\d{1,9}(\.\d{1,12})?$/, "must be a decimal number such as 2.5"),
  ])
  // A number's exact decimal digits, never an exponent form such as 1e-7.
  .transform((v) => (typeof v === "number" ? new Prisma.Decimal(v).toFixed() : v));

const PriceBody = z.strictObject({
  model: modelName,
  effectiveFrom: z.iso
    .datetime({ offset: true })
    .transform((s) => new Date(s))
    .optional(),
  inputPerMTok: perMTok,
  outputPerMTok: perMTok,
  cacheReadPerMTok: perMTok.nullable().default(null),
  cacheWritePerMTok: perMTok.nullable().default(null),
});

const IdParams = z.object({
  id: z
    .string()
    .regex(/^\d{1,18}$/, "must be a price id")
    .transform(BigInt),
});
const ListQuery = z.object({ model: modelName.optional() });

const tag = "prices";
export const PRICE_ROUTES = {
  list: apiRoute({
    method: "get",
    path: "/prices",
    tag,
    summary: "The project's price table",
    query: ListQuery,
    responses: { 200: PriceListSchema },
  }),
  create: apiRoute({
    method: "post",
    path: "/prices",
    tag,
    summary: "Add a model's price (from effectiveFrom, or from now on)",
    body: PriceBody,
    responses: { 201: PriceSchema },
  }),
  replace: apiRoute({
    method: "put",
    path: "/prices/:id",
    tag,
    summary: "Replace a price",
    params: IdParams,
    body: PriceBody,
    responses: { 200: PriceSchema },
  }),
  remove: apiRoute({
    method: "delete",
    path: "/prices/:id",
    tag,
    summary: "Delete a price",
    params: IdParams,
    responses: { 204: null },
  }),
};

export function priceRoutes(prices: PricesService): Router {
  const r = Router();

  on(r, PRICE_ROUTES.list, async (req, res) => {
    const { model } = parse(ListQuery, req.query, "query");
    res.json({ data: await prices.list(principalOf(res), model) });
  });

  // Without effectiveFrom, the price applies from now on.
  on(r, PRICE_ROUTES.create, async (req, res) => {
    const body = parse(PriceBody, req.body);
    res
      .status(201)
      .json(await prices.create(principalOf(res), { ...body, effectiveFrom: body.effectiveFrom ?? new Date() }));
  });

  on(r, PRICE_ROUTES.replace, async (req, res) => {
    const { id } = parse(IdParams, req.params, "params");
    const body = parse(PriceBody, req.body);
    res.json(await prices.replace(principalOf(res), id, { ...body, effectiveFrom: body.effectiveFrom ?? new Date() }));
  });

  on(r, PRICE_ROUTES.remove, async (req, res) => {
    const { id } = parse(IdParams, req.params, "params");
    await prices.remove(principalOf(res), id);
    res.status(204).end();
  });

  return r;
}
