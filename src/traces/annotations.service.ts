// Outcomes that spans cannot carry: the only module that writes the annotations table. A batch is one upsert
// statement, so it is stored entirely or not at all, and a value sent again for the same (trace, span, name, kind)
// replaces the earlier one. Spans are not required to exist yet: feedback often arrives before the exporter flushes.
import type { ANNOTATION_KINDS, Annotation, EVAL_STATUSES } from "@promptreg/client/contract";
import type { Principal } from "../auth/principal.js";
import { requireRole } from "../auth/principal.js";
import type { Database, Tx } from "../db/client.js";
import { Prisma } from "../generated/prisma/client.js";
import { cleanText, clipText } from "./span-checks.js";

export type AnnotationKind = (typeof ANNOTATION_KINDS)[number];
export type EvalStatus = (typeof EVAL_STATUSES)[number];

export interface AnnotationInput {
  /** 32 lowercase hex digits. */
  traceId: string;
  /** 16 lowercase hex digits; absent for an annotation of the whole trace. */
  spanId?: string | null;
  name: string;
  kind: AnnotationKind;
  score?: number | null;
  label?: string | null;
  passed?: boolean | null;
  comment?: string | null;
}

export interface AnnotationRow {
  trace_id: string;
  span_id: string;
  name: string;
  kind: AnnotationKind;
  score: number | null;
  label: string | null;
  passed: boolean | null;
  comment: string | null;
  evaluator_revision: number;
  status: EvalStatus | null;
  details: Record<string, unknown> | null;
  created_at: Date;
  updated_at: Date;
}

export const ANNOTATION_COLUMNS = Prisma.sql`trace_id, span_id, name, kind, score, label, passed, comment, evaluator_revision, status, details, created_at, updated_at`;

/** One statement for the whole batch: the rows travel as one JSON parameter, expanded by json_to_recordset. */
function upsertSql(projectId: string, rowsJson: string): Prisma.Sql {
  return Prisma.sql`
INSERT INTO annotations (project_id, trace_id, span_id, name, kind, score, label, passed, comment)
SELECT ${projectId}::uuid, a.trace_id, a.span_id, a.name, a.kind, a.score, a.label, a.passed, a.comment
FROM json_to_recordset(${rowsJson}::json)
  AS a(trace_id text, span_id text, name text, kind text, score double precision, label text, passed boolean, comment text)
ON CONFLICT (project_id, trace_id, span_id, name, kind, evaluator_revision) DO UPDATE
SET score = EXCLUDED.score, label = EXCLUDED.label, passed = EXCLUDED.passed, comment = EXCLUDED.comment, updated_at = now()
RETURNING ${ANNOTATION_COLUMNS}`;
}

export function annotationView(row: AnnotationRow): Annotation {
  return {
    traceId: row.trace_id,
    spanId: row.span_id === "" ? null : row.span_id,
    name: row.name,
    kind: row.kind,
    score: row.score,
    label: row.label,
    passed: row.passed,
    comment: row.comment,
    revision: row.evaluator_revision === 0 ? null : row.evaluator_revision,
    status: row.status,
    details: row.details,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

/** An evaluator's result on one span (src/evals). */
export interface EvalResult {
  projectId: string;
  traceId: string;
  spanId: string;
  /** The evaluator's name, and the revision of its definition that judged. */
  name: string;
  revision: number;
  status: EvalStatus;
  score: number | null;
  reason: string;
  details: Record<string, unknown> | null;
}

/**
 * Writes evaluators' results inside the transaction that completes their job, in one statement however many. A
 * result is never replaced: the job runner writes each once, and a second for the same span and revision (a backfill
 * over live results) is dropped.
 */
export async function writeEvalResults(tx: Tx, results: EvalResult[]): Promise<void> {
  if (results.length === 0) return;
  // Reasons quote answers and parse errors, which may hold a NUL or half of a surrogate pair (a parse error on an
  // emoji names its first half; a cut reason may split one): jsonb refuses both, and would refuse the whole batch.
  const rows = JSON.stringify(
    results.map((r) => ({
      project_id: r.projectId,
      trace_id: r.traceId,
      span_id: r.spanId,
      name: r.name,
      evaluator_revision: r.revision,
      status: r.status,
      passed: r.status === "passed" ? true : r.status === "failed" ? false : null,
      score: r.score,
      comment: clipText(r.reason, 4_000, 16_000),
      details: r.details,
    })),
    (_key, value) => (typeof value === "string" ? cleanText(value) : value),
  );
  await tx.$executeRaw`
    INSERT INTO annotations (project_id, trace_id, span_id, name, kind, evaluator_revision, status, passed, score, comment, details)
    SELECT r.project_id, r.trace_id, r.span_id, r.name, 'eval', r.evaluator_revision, r.status, r.passed, r.score,
      r.comment, r.details
    FROM jsonb_to_recordset(${rows}::jsonb) AS r(project_id uuid, trace_id text, span_id text, name text,
      evaluator_revision int, status text, passed boolean, score float8, comment text, details jsonb)
    ON CONFLICT (project_id, trace_id, span_id, name, kind, evaluator_revision) DO NOTHING`;
}

/** Removes an evaluator's results, every revision of them (deleting the evaluator). Posted annotations stay. */
export async function deleteEvalResults(tx: Tx, projectId: string, name: string): Promise<void> {
  await tx.$executeRaw`
    DELETE FROM annotations WHERE project_id = ${projectId}::uuid AND name = ${name} AND kind = 'eval' AND evaluator_revision > 0`;
}

export type AnnotationsService = ReturnType<typeof createAnnotationsService>;

export function createAnnotationsService({ database }: { database: Database }) {
  return {
    /** Stores the batch (all or nothing) and returns the stored annotations. */
    async upsert(p: Principal, annotations: AnnotationInput[]): Promise<Annotation[]> {
      requireRole(p, "write");
      // One statement may not update the same row twice, so within a batch the last value for a key wins here.
      const latest = new Map<
        string,
        Omit<AnnotationRow, "created_at" | "updated_at" | "evaluator_revision" | "status" | "details">
      >();
      for (const a of annotations) {
        const row = {
          trace_id: a.traceId,
          span_id: a.spanId ?? "",
          name: a.name,
          kind: a.kind,
          score: a.score ?? null,
          label: a.label ?? null,
          passed: a.passed ?? null,
          comment: a.comment ?? null,
        };
        latest.set(JSON.stringify([row.trace_id, row.span_id, row.name, row.kind]), row);
      }
      const result = await database.query<AnnotationRow>(upsertSql(p.projectId, JSON.stringify([...latest.values()])));
      return result.rows.map(annotationView);
    },
  };
}
