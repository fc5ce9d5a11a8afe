// The span conditions shared by every comparison statement, as Prisma.sql fragments over the spans table aliased `s`
// (through the spans' own filter builder, traces/span-filters.ts), or span_rollups aliased `r`.
import type { RolloutArm } from "@promptreg/client/contract";
import { Prisma } from "../generated/prisma/client.js";
import { COUNTED_SPANS_SQL } from "../traces/rollups.js";
import { spanFiltersSql } from "../traces/span-filters.js";

export interface CompareFilters {
  from?: Date;
  to?: Date;
  label?: string;
  model?: string;
  session?: string;
  user?: string;
  source?: string;
  /** A guarded rollout's calls, and one of its arms. */
  rollout?: string;
  arm?: RolloutArm;
}

/** The project's counted spans inside the window and filters, whatever version they belong to. */
export function countedSpanFilters(projectId: string, f: CompareFilters): Prisma.Sql {
  const filters = spanFiltersSql(projectId, {
    from: f.from?.toISOString(),
    to: f.to?.toISOString(),
    label: f.label,
    model: f.model,
    session: f.session,
    user: f.user,
    source: f.source,
    rollout: f.rollout,
    arm: f.arm,
  });
  return Prisma.sql`${filters} AND ${COUNTED_SPANS_SQL}`;
}

/** The counted spans of the versions `versionIds` inside the window and filters. */
export function versionSpanFilters(projectId: string, versionIds: string[], f: CompareFilters): Prisma.Sql {
  return Prisma.sql`s.version_id = ANY(${versionIds}::uuid[]) AND ${countedSpanFilters(projectId, f)}`;
}

/** The same for span_rollups rows, but for the time window, which rollupSource cuts at whole hours. */
export function rollupFilters(projectId: string, versionIds: string[], f: CompareFilters): Prisma.Sql[] {
  const where = [Prisma.sql`r.project_id = ${projectId}::uuid`, Prisma.sql`r.version_id = ANY(${versionIds}::uuid[])`];
  if (f.label) where.push(Prisma.sql`r.label = ${f.label}`);
  if (f.model) where.push(Prisma.sql`r.model = ${f.model}`);
  if (f.source) where.push(Prisma.sql`r.source = ${f.source}`);
  return where;
}
