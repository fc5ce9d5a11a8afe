// Prompt names as paths: `support/triage` is the prompt `triage` in the folder `support`. Folders are not stored;
// they are read off the names.
import type { Principal } from "../auth/principal.js";
import type { Database } from "../db/client.js";
import { Prisma } from "../generated/prisma/client.js";

// Prisma turns startsWith into LIKE without escaping its wildcards: `_` (allowed in names) and `%` would match
// other folders. PostgreSQL's LIKE escape character is the backslash.
export const escapeLike = (text: string) => text.replace(/[\\%_]/g, "\\$&");

/** The folders directly inside `prefix` (the project's root when absent), with how many prompts each holds. */
export async function listFolders(
  database: Database,
  p: Principal,
  prefix?: string,
): Promise<{ name: string; prompts: number }[]> {
  const folder = prefix?.replace(/\/+$/, "") ?? "";
  const start = folder ? `${folder}/` : "";
  const pattern = `${escapeLike(start)}%`;
  const { rows } = await database.query<{ segment: string; prompts: number }>(Prisma.sql`
    SELECT split_part(substr(name, ${start.length + 1}::int), '/', 1) AS segment, count(*)::int AS prompts
    FROM prompts
    WHERE project_id = ${p.projectId}::uuid AND name LIKE ${pattern} AND strpos(substr(name, ${start.length + 1}::int), '/') > 0
    GROUP BY 1 ORDER BY 1 LIMIT 1000`);
  return rows.map((r) => ({ name: start + r.segment, prompts: r.prompts }));
}
