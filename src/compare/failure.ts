// What "failed" means in a comparison, and which units a definition can judge at all. By status, every counted
// span is judged. By an annotation, only the units that carry it are: a unit nobody annotated has no verdict, and
// counting it as a pass made a misspelt name look perfect and a version annotated more often look worse than one
// never annotated. `any` judges the same annotated units and adds their status to the annotation's verdict, so its
// figures stay comparable with `annotation:<name>`'s; counting unannotated units by status alone would mix the
// two populations again.
import type { FailureDefinition } from "@promptreg/client/contract";
import type { Database } from "../db/client.js";
import { Prisma } from "../generated/prisma/client.js";
import { AppError } from "../http/errors.js";

export type { FailureDefinition };

/** At most this many recorded names are listed when a definition names one never recorded. */
const LISTED_NAMES = 20;

/**
 * Which annotations count: those posted through the API, and an evaluator's results of one revision (the one asked
 * for, else the evaluator's current one), so that the results of two definitions are never mixed.
 */
function revisionSql(def: Exclude<FailureDefinition, { kind: "status" }>): Prisma.Sql {
  const current = Prisma.sql`(SELECT e.revision FROM evaluators e WHERE e.project_id = an.project_id AND e.name = an.name)`;
  return def.revision === null
    ? Prisma.sql`(an.evaluator_revision = 0 OR an.evaluator_revision = ${current})`
    : Prisma.sql`(an.evaluator_revision = 0 OR an.evaluator_revision = ${def.revision}::int)`;
}

/** A verdict: a posted annotation, or an evaluator's passed or failed (skipped and error are none). */
const VERDICT_SQL = Prisma.sql`(an.status IS NULL OR an.status IN ('passed', 'failed'))`;

/** Verdicts of `an` as a comparison's annotation summary counts them: posted ones, and evaluators' current ones. */
export const CURRENT_VERDICTS_SQL = Prisma.sql`(an.evaluator_revision = 0 OR (${VERDICT_SQL} AND an.evaluator_revision =
  (SELECT e.revision FROM evaluators e WHERE e.project_id = an.project_id AND e.name = an.name)))`;

/**
 * A lateral subquery over the span `s` giving `judged` (the definition has a verdict on it), `failed` (that
 * verdict is a failure; only meaningful when judged) and `errored` (no verdict, and an evaluator's result is
 * `error`: a judge that failed, counted apart and never as the version's failure). An annotation fails on
 * `passed = false`, or on a score under the threshold when one is given. An annotation without a span id is its
 * trace's: it judges every span of it.
 */
export function judgementSql(projectId: string, def: FailureDefinition): Prisma.Sql {
  if (def.kind === "status") return Prisma.sql`(SELECT TRUE AS judged, s.failed AS failed, FALSE AS errored)`;
  const name = def.name === null ? Prisma.empty : Prisma.sql`AND an.name = ${def.name}`;
  const low = def.threshold === null ? Prisma.empty : Prisma.sql`OR an.score < ${def.threshold}::float8`;
  const status = def.kind === "any" ? Prisma.sql`s.failed OR` : Prisma.empty;
  // Under `any`, a failed call that carries the annotation (an evaluator skips failed calls: they already failed)
  // is judged, and failed, by its status.
  const judged =
    def.kind === "any"
      ? Prisma.sql`(count(*) FILTER (WHERE ${VERDICT_SQL}) > 0 OR (s.failed AND count(*) > 0))`
      : Prisma.sql`count(*) FILTER (WHERE ${VERDICT_SQL}) > 0`;
  return Prisma.sql`(SELECT ${judged} AS judged,
      ${status} coalesce(bool_or((an.passed = false ${low}) AND ${VERDICT_SQL}), false) AS failed,
      NOT ${judged} AND count(*) FILTER (WHERE an.status = 'error') > 0 AS errored
    FROM annotations an
    WHERE an.project_id = ${projectId}::uuid AND an.trace_id = s.trace_id AND an.span_id IN (s.span_id, '') ${name}
      AND ${revisionSql(def)})`;
}

/**
 * Refuses (422) an annotation-based definition when nothing it names was ever recorded on the prompt's spans (any
 * version, any time): that is a misspelt name or a missing integration, never a comparison. The error lists the
 * names that were recorded, or says there are none.
 */
export async function requireRecordedAnnotations(
  database: Database,
  projectId: string,
  prompt: { id: string; name: string },
  def: FailureDefinition,
): Promise<void> {
  if (def.kind === "status") return;
  const onPrompt = Prisma.sql`an.project_id = ${projectId}::uuid AND EXISTS (
    SELECT 1 FROM spans s WHERE s.project_id = an.project_id AND s.trace_id = an.trace_id
      AND (an.span_id = '' OR s.span_id = an.span_id) AND s.prompt_id = ${prompt.id}::uuid)`;
  const named = def.name === null ? Prisma.empty : Prisma.sql`AND an.name = ${def.name}`;
  const hit = await database.query(Prisma.sql`SELECT 1 FROM annotations an WHERE ${onPrompt} ${named} LIMIT 1`);
  if (hit.rows.length) return;
  // Only on the way to the error: COLLATE "C" gives the same order on every database, whatever its locale.
  const { rows } = await database.query<{ name: string }>(Prisma.sql`
    SELECT DISTINCT an.name COLLATE "C" AS name FROM annotations an WHERE ${onPrompt} ORDER BY 1 LIMIT ${LISTED_NAMES + 1}`);
  const names = rows.slice(0, LISTED_NAMES).map((r) => r.name);
  const asked = `failure=${def.kind}${def.name === null ? "" : `:${def.name}`} judges only annotated units`;
  const none = "use failure=status, or record annotations first";
  let message: string;
  if (def.name === null)
    message = `${asked}, but no annotation has been recorded on spans of prompt '${prompt.name}' yet: ${none}`;
  else {
    const recorded = names.length
      ? `the names recorded are ${names.map((n) => `'${n}'`).join(", ")}${rows.length > LISTED_NAMES ? " and more" : ""}`
      : `no annotation at all has been recorded on them yet: ${none}`;
    message = `${asked}, but no annotation named '${def.name}' was recorded on spans of prompt '${prompt.name}'; ${recorded}`;
  }
  throw new AppError("validation_error", message, {
    issues: [
      {
        path: "query.failure",
        message:
          def.name === null
            ? "no annotation recorded for this prompt"
            : "annotation name never recorded for this prompt",
      },
    ],
    annotationNames: names,
  });
}

/**
 * `status`, `annotation:<name>`, `any` (status or any failing annotation) or `any:<name>`. `at` is where the request
 * gave them (a rollout's guard gives them in its body).
 */
export function parseFailure(
  text: string,
  threshold: number | undefined,
  revision: number | undefined,
  at: { failure: string; revision: string } = { failure: "query.failure", revision: "query.revision" },
): FailureDefinition {
  const t = threshold ?? null;
  const r = revision ?? null;
  const m = text.match(/^(annotation|any):([A-Za-z0-9_.:-]{1,100})$/);
  if (r !== null && !m)
    throw new AppError("validation_error", "revision needs failure=annotation:<evaluator> or any:<evaluator>", {
      issues: [{ path: at.revision, message: "needs a failure definition naming an evaluator" }],
    });
  if (text === "status") return { kind: "status" };
  if (text === "any") return { kind: "any", name: null, threshold: t, revision: null };
  if (m)
    return m[1] === "annotation"
      ? { kind: "annotation", name: m[2]!, threshold: t, revision: r }
      : { kind: "any", name: m[2]!, threshold: t, revision: r };
  throw new AppError(
    "validation_error",
    `unknown failure definition '${text}': use status, annotation:<name>, any or any:<name>`,
    {
      issues: [{ path: at.failure, message: "unknown failure definition" }],
    },
  );
}
