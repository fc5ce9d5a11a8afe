// LLM spans that name a prompt but are in none of its versions' figures, counted by reason, so that traffic a
// comparison cannot attribute (an outage served from an inline fallback of no known version, a version published
// elsewhere, spans sent before the prompt existed) is at least visible next to it. The partial index of migration
// 20261125151616_unattributed_spans holds exactly the rows this reads.
import type { Unattributed } from "@promptreg/client/contract";
import type { Database } from "../db/client.js";
import { Prisma } from "../generated/prisma/client.js";
import { countedSpanFilters, type CompareFilters } from "./filters.js";

export type { Unattributed };

/** For the prompt, inside the window and filters of a comparison (all but the versions). */
export async function countUnattributed(
  database: Database,
  projectId: string,
  prompt: { id: string; name: string },
  f: CompareFilters,
): Promise<Unattributed> {
  // Checked first: a fallback of no version could not be attributed even had its prompt existed.
  const fallback = Prisma.sql`(s.source IS NOT DISTINCT FROM 'fallback' AND coalesce(s.prompt_version, 'fallback') = 'fallback')`;
  const { rows } = await database.query<{
    total: number;
    fallback: number;
    unknown_version: number;
    unknown_prompt: number;
  }>(Prisma.sql`
    SELECT count(*)::int AS total,
      (count(*) FILTER (WHERE ${fallback}))::int AS fallback,
      (count(*) FILTER (WHERE NOT ${fallback} AND s.prompt_id = ${prompt.id}::uuid))::int AS unknown_version,
      (count(*) FILTER (WHERE NOT ${fallback} AND s.prompt_id IS DISTINCT FROM ${prompt.id}::uuid))::int AS unknown_prompt
    FROM spans s
    WHERE s.prompt_name = ${prompt.name} AND s.version_id IS NULL AND ${countedSpanFilters(projectId, f)}`);
  const r = rows[0]!;
  const counts = {
    total: r.total,
    fallbackWithoutVersion: r.fallback,
    unknownVersion: r.unknown_version,
    unknownPrompt: r.unknown_prompt,
  };
  return { ...counts, explanation: explain(prompt.name, counts) };
}

function explain(name: string, c: Omit<Unattributed, "explanation">): string {
  if (c.total === 0)
    return `Every LLM span naming prompt '${name}' in this window is attributed to one of its versions.`;
  const parts = [
    [c.fallbackWithoutVersion, "served from an inline fallback that names no version"],
    [c.unknownVersion, "naming a version the prompt does not have"],
    [c.unknownPrompt, "sent before the prompt existed"],
  ] as const;
  const reasons = parts.filter(([n]) => n > 0).map(([n, why]) => `${n} ${why}`);
  const spans =
    c.total === 1 ? `1 LLM span naming prompt '${name}' is` : `${c.total} LLM spans naming prompt '${name}' are`;
  return `${spans} in no version's figures for this window (${reasons.join("; ")}).`;
}
