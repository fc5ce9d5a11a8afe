// The project's price table (model_prices): what ingest prices a span with when the span carries no cost, which no
// JS instrumentation sends. Written only here; read by the span insert (traces/ingest.service.ts). A change applies
// to spans stored from then on: stored spans keep the cost they were stored with.
import type { Price } from "@promptreg/client/contract";
import type { Principal } from "../auth/principal.js";
import { requireRole } from "../auth/principal.js";
import { isUniqueViolation, type Db } from "../db/client.js";
import type { Prisma } from "../generated/prisma/client.js";
import { AppError, notFound } from "../http/errors.js";

export interface PriceInput {
  model: string;
  effectiveFrom: Date;
  /** USD per million tokens, as exact decimal strings. */
  inputPerMTok: string;
  outputPerMTok: string;
  cacheReadPerMTok: string | null;
  cacheWritePerMTok: string | null;
}

interface PriceRow {
  id: bigint;
  model: string;
  effectiveFrom: Date;
  inputPerMTok: Prisma.Decimal;
  outputPerMTok: Prisma.Decimal;
  cacheReadPerMTok: Prisma.Decimal | null;
  cacheWritePerMTok: Prisma.Decimal | null;
  createdAt: Date;
  updatedAt: Date;
}

function priceView(r: PriceRow): Price {
  return {
    id: r.id.toString(),
    model: r.model,
    effectiveFrom: r.effectiveFrom.toISOString(),
    // toFixed(): the exact digits, never an exponent form such as 1e-7.
    inputPerMTok: r.inputPerMTok.toFixed(),
    outputPerMTok: r.outputPerMTok.toFixed(),
    cacheReadPerMTok: r.cacheReadPerMTok?.toFixed() ?? null,
    cacheWritePerMTok: r.cacheWritePerMTok?.toFixed() ?? null,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

const clash = (input: PriceInput) =>
  new AppError(
    "conflict",
    `a price of model '${input.model}' from ${input.effectiveFrom.toISOString()} already exists: edit that one (PUT /prices/:id)`,
  );

export type PricesService = ReturnType<typeof createPricesService>;

export function createPricesService({ db }: { db: Db }) {
  async function find(p: Principal, id: bigint): Promise<PriceRow> {
    const row = await db.modelPrice.findFirst({ where: { id, projectId: p.projectId } });
    if (!row) throw notFound(`price ${id}`);
    return row;
  }

  return {
    async list(p: Principal, model?: string): Promise<Price[]> {
      requireRole(p, "admin");
      const rows = await db.modelPrice.findMany({
        where: { projectId: p.projectId, ...(model === undefined ? {} : { model }) },
        orderBy: [{ model: "asc" }, { effectiveFrom: "desc" }],
      });
      return rows.map(priceView);
    },

    async create(p: Principal, input: PriceInput): Promise<Price> {
      requireRole(p, "admin");
      try {
        return priceView(await db.modelPrice.create({ data: { projectId: p.projectId, ...input } }));
      } catch (err) {
        if (isUniqueViolation(err)) throw clash(input);
        throw err;
      }
    },

    async replace(p: Principal, id: bigint, input: PriceInput): Promise<Price> {
      requireRole(p, "admin");
      await find(p, id);
      try {
        return priceView(await db.modelPrice.update({ where: { id }, data: { ...input, updatedAt: new Date() } }));
      } catch (err) {
        if (isUniqueViolation(err)) throw clash(input);
        throw err;
      }
    },

    async remove(p: Principal, id: bigint): Promise<void> {
      requireRole(p, "admin");
      await find(p, id);
      await db.modelPrice.delete({ where: { id } });
    },
  };
}
