// Evaluating production traffic in the background, on the job runner (src/jobs/runner.ts):
// - ingest queues one `evaluations.fanout` job per stored chunk that holds LLM spans, in the statement that stores
//   them, when the project has an enabled evaluator (`followUp`): nothing is judged inside ingest, and nothing
//   stored is forgotten by a crash;
// - a fanout job decides, per span and enabled evaluator, whether the evaluator looks at it (target, sample); it runs
//   the deterministic checks itself, the chunk at once, and writes their results (annotations of kind eval) in the
//   transaction that removes it; for an LLM judge it queues one `evaluations.evaluate` job per (span, revision) there.
//   Fanouts yield to ingest (a background queue): while the receiver is busy they take what time it leaves;
// - an evaluate job judges one span and writes its one result in the transaction that removes it, so a result is
//   written once; after its last attempt the result is `error` with the reason;
// - a backfill queues evaluate jobs for past spans, a page per `evaluations.backfill` job.
import { LRUCache } from "lru-cache";
import type { Logger } from "pino";
import { z } from "zod";
import type { Database, Db, Tx } from "../db/client.js";
import { Prisma } from "../generated/prisma/client.js";
import { insertJobsSql, type JobRunner, type Queue, type TxCompletion } from "../jobs/runner.js";
import { type EvalResult, type EvalStatus, writeEvalResults } from "../traces/annotations.service.js";
import type { IngestService, SpanFollowUp } from "../traces/ingest.service.js";
import type { OtlpSpan } from "../traces/otlp.js";
import { llmCallAttributes, newSpanId, newTraceId, ownCallSpan, ownCallsRequest } from "../traces/own-calls.js";
import { prepareBatch } from "../traces/span-batch.js";
import { COUNTED_SPANS_SQL } from "../traces/rollups.js";
import { EVAL_LIMITS } from "./checks.js";
import { compileDefinition, type Definition, DefinitionSchema, inTarget, type Judging, sampled } from "./definition.js";
import { type Judge, type JudgeCall, judgeContext } from "./judge.js";
import { spanText } from "./span-text.js";

/** A stored LLM span as evaluation reads it. */
export interface EvalSpan {
  id: string;
  trace_id: string;
  span_id: string;
  start_time: Date;
  span_kind: string | null;
  in_evaluation: boolean;
  nested_call: boolean;
  status_code: number;
  prompt_name: string | null;
  prompt_version: string | null;
  label: string | null;
  attributes: Record<string, unknown>;
}
export const EVAL_SPAN_COLUMNS = Prisma.sql`s.id::text AS id, s.trace_id, s.span_id, s.start_time, s.span_kind,
  s.in_evaluation, s.nested_call, s.status_code, s.prompt_name, s.prompt_version, s.label, s.attributes`;

/** What became of one span under one definition. */
export interface Outcome {
  status: EvalStatus;
  score: number | null;
  reason: string;
  details: Record<string, unknown> | null;
  output: string | null;
}

const FanoutPayload = z.union([
  z.object({
    projectId: z.string(),
    /** The stored spans' row ids (as text: bigint), read by primary key. */
    ids: z.array(z.string().regex(/^\d{1,19}$/)),
  }),
  // Queued by the first version of evaluations, and perhaps still waiting after an upgrade: (trace, span) pairs.
  z.object({ projectId: z.string(), spans: z.array(z.tuple([z.string(), z.string()])) }),
]);
const EvaluatePayload = z.object({
  projectId: z.string(),
  evaluatorId: z.string(),
  revision: z.number().int(),
  traceId: z.string(),
  spanId: z.string(),
  backfillId: z.string().optional(),
});
type EvaluatePayload = z.infer<typeof EvaluatePayload>;
const BackfillPayload = z.object({ projectId: z.string(), backfillId: z.string() });

/** A deterministic evaluator's results on a fanout's spans, before they are written. */
interface CheckedEvaluator {
  id: string;
  name: string;
  revision: number;
  dailyBudget: number | null;
  /** `judged`: the check ran (counted in the day's usage), rather than the span being skipped before it. */
  results: { traceId: string; spanId: string; judged: boolean; outcome: Outcome }[];
}

/** How long checks run before letting the event loop serve others. */
const YIELD_AFTER_MS = 10;

/** Spans a backfill job reads and queues at once. */
const BACKFILL_PAGE = 500;

export interface EvaluationOptions {
  db: Db;
  database: Database;
  /** Where the judges' calls are stored as spans: an ingest that queues no evaluation of its own. */
  ingest: IngestService;
  judge: Judge;
  logger: Logger;
  /** Attempts of a judge call before its result is `error` (each a call, each counted in the budget). */
  maxAttempts?: number;
  /** Evaluate jobs one instance runs at once (judges are also held to their connection's maxConcurrency). */
  concurrency?: number;
  /** Ingest limits for storing the judges' own spans. */
  batchLimits: Parameters<typeof prepareBatch>[1];
}

const noop: TxCompletion = async () => {};

export function createEvaluations(options: EvaluationOptions) {
  const { db, database, judge, logger } = options;
  // Compiled definitions by evaluator and revision: a revision never changes, so an entry never goes stale.
  const compiled = new LRUCache<string, { def: Definition; judging: Judging }>({ max: 1_000 });
  let runner: JobRunner | undefined;

  async function definitionOf(evaluatorId: string, revision: number) {
    const key = `${evaluatorId}:${revision}`;
    const hit = compiled.get(key);
    if (hit) return hit;
    const row = await db.evaluatorRevision.findUnique({ where: { evaluatorId_revision: { evaluatorId, revision } } });
    if (!row) return undefined;
    const def = DefinitionSchema.parse(row.definition);
    let judging: Judging;
    try {
      judging = compileDefinition(def);
    } catch (err) {
      // Saved by a version that accepted it: this evaluator does nothing here, the project's others still run.
      logger.error({ err, evaluatorId, revision }, "an evaluator's definition no longer compiles; it is not run");
      return undefined;
    }
    const entry = { def, judging };
    compiled.set(key, entry);
    return entry;
  }

  /** The answer to judge, or why the span gets no verdict before anything judges it. */
  function answerOf(span: EvalSpan): Outcome | { output: string; input: string | null } {
    if (span.status_code === 2)
      return outcome("skipped", "the call failed (status ERROR): it is not judged, it already failed");
    const { input, output } = spanText(span.attributes);
    if (output === null)
      return outcome(
        "skipped",
        "the span carries no output text (llm.output_messages, output.value, gen_ai.output.messages, gen_ai.completion.N or ai.response.text; is content capture off?)",
      );
    return { input, output };
  }

  /** Why a span gets no verdict before anything judges it, or undefined when it can be judged. */
  function unjudgeable(span: EvalSpan): Outcome | undefined {
    const text = answerOf(span);
    return "status" in text ? text : undefined;
  }

  /**
   * Judges one span by a compiled definition. A judge's failure throws (an OutboundError: retryable or not); a
   * deterministic check never does. `onCall` stores a judge's call.
   */
  async function evaluate(
    project: { projectId: string; projectName: string },
    judging: Judging,
    span: EvalSpan,
    call: { signal?: AbortSignal; onCall?: (c: JudgeCall) => Promise<void> } = {},
  ): Promise<Outcome> {
    const text = answerOf(span);
    if ("status" in text) return text;
    const output = text.output;
    if (judging.kind === "check") {
      const verdict = judging.check(output);
      return { status: verdict.status, score: null, reason: verdict.reason, details: null, output };
    }
    if (output.length > EVAL_LIMITS.maxOutputChars)
      return outcome("skipped", `the answer is longer than ${EVAL_LIMITS.maxOutputChars} characters`, output);
    const verdict = await judge.judge(
      project,
      judging.config,
      { input: text.input, output, ...judgeContext(span.attributes) },
      call,
    );
    return { status: verdict.status, score: verdict.score, reason: verdict.reason, details: verdict.details, output };
  }

  /**
   * Counts one evaluation in today's usage before it runs, when there is a budget to keep: false when it is spent.
   * Without a budget it is counted in the completion's transaction (one statement fewer per evaluation).
   */
  async function takeBudget(evaluatorId: string, budget: number): Promise<boolean> {
    const { rows } = await database.query(Prisma.sql`
      INSERT INTO evaluator_usage (evaluator_id, day, evaluations)
      VALUES (${evaluatorId}::uuid, (now() AT TIME ZONE 'UTC')::date, 1)
      ON CONFLICT (evaluator_id, day) DO UPDATE SET evaluations = evaluator_usage.evaluations + 1
      WHERE evaluator_usage.evaluations < ${budget}::int
      RETURNING evaluations`);
    return rows.length > 0;
  }

  /** The judge's call as a trace of its own: an EVALUATOR span and its LLM child, so its cost is seen, never counted. */
  async function storeCall(
    projectId: string,
    evaluator: { name: string; revision: number },
    span: EvalSpan,
    c: JudgeCall,
  ): Promise<void> {
    const traceId = newTraceId();
    const parentId = newSpanId();
    const call = { ...c, prompt: c.judgePrompt };
    const spans: OtlpSpan[] = [
      ownCallSpan(c, {
        traceId,
        spanId: parentId,
        parentSpanId: null,
        name: `evaluate ${evaluator.name}`,
        attributes: {
          "openinference.span.kind": "EVALUATOR",
          "promptreg.evaluator.name": evaluator.name,
          "promptreg.evaluator.revision": evaluator.revision,
          "promptreg.evaluated.trace_id": span.trace_id,
          "promptreg.evaluated.span_id": span.span_id,
        },
      }),
      ownCallSpan(c, {
        traceId,
        spanId: newSpanId(),
        parentSpanId: parentId,
        name: "judge",
        attributes: llmCallAttributes(call),
      }),
    ];
    calls.add(projectId, spans);
  }

  // Judge calls are stored in batches (a statement per batch rather than per call): best effort, as a span exporter
  // is, so a crash may lose the spans of the last calls, never a result.
  const calls = createCallBuffer(async (projectId, spans) => {
    const decoded = ownCallsRequest("promptreg-evaluator", "promptreg.evaluations", spans);
    try {
      await options.ingest.ingest(projectId, prepareBatch(decoded, options.batchLimits));
    } catch (err) {
      logger.warn({ err, spans: spans.length }, "could not store judge calls' spans");
    }
  });

  // Written only while the evaluator exists (its row held until the commit): one deleted while its judge was
  // answering leaves no result behind for a new evaluator of the same name to inherit.
  const result =
    (p: EvaluatePayload, name: string, o: Outcome): TxCompletion =>
    async (tx) => {
      const held = await tx.$queryRaw<unknown[]>`
        SELECT 1 FROM evaluators WHERE id = ${p.evaluatorId}::uuid FOR KEY SHARE`;
      if (held.length === 0) return;
      await writeEvalResults(tx, [
        {
          projectId: p.projectId,
          traceId: p.traceId,
          spanId: p.spanId,
          name,
          revision: p.revision,
          status: o.status,
          score: o.score,
          reason: o.reason,
          details: o.details,
        },
      ]);
    };

  const evaluateQueue: Queue<EvaluatePayload> = {
    name: "evaluations.evaluate",
    payload: EvaluatePayload,
    maxAttempts: options.maxAttempts ?? 5,
    concurrency: options.concurrency ?? 8,
    async run(p, { signal }) {
      // The evaluator, the span, and whether this revision judged it already, in one round trip.
      const { rows } = await database.query<
        EvalSpan & {
          evaluator: string;
          current: number;
          enabled: boolean;
          budget: number | null;
          project: string;
          judged: boolean;
          backfill: string | null;
        }
      >(Prisma.sql`
        SELECT e.name AS evaluator, e.revision AS current, e.enabled, e.daily_budget AS budget, pr.name AS project,
          ${p.backfillId === undefined ? Prisma.sql`NULL` : Prisma.sql`(SELECT b.status FROM evaluator_backfills b WHERE b.id = ${p.backfillId}::uuid)`} AS backfill,
          EXISTS (SELECT 1 FROM annotations an WHERE an.project_id = s.project_id AND an.trace_id = s.trace_id
            AND an.span_id = s.span_id AND an.name = e.name AND an.kind = 'eval' AND an.evaluator_revision = ${p.revision}) AS judged,
          ${EVAL_SPAN_COLUMNS}
        FROM evaluators e JOIN projects pr ON pr.id = e.project_id
          JOIN spans s ON s.project_id = e.project_id AND s.trace_id = ${p.traceId} AND s.span_id = ${p.spanId}
        WHERE e.id = ${p.evaluatorId}::uuid`);
      const span = rows[0];
      // Gone (the evaluator deleted, or the span by its project's retention), changed since (a new revision judges from
      // then on), turned off before this span's turn, its backfill cancelled (also between the attempts of a failing
      // judge), judged already (a backfill over live results), or found since to be no application call (a judge's,
      // a nested layer's).
      if (
        span === undefined ||
        span.current !== p.revision ||
        (!span.enabled && !p.backfillId) ||
        span.backfill === "cancelled" ||
        span.judged ||
        span.span_kind !== "LLM" ||
        span.in_evaluation ||
        span.nested_call
      )
        return noop;
      const evaluator = { id: p.evaluatorId, name: span.evaluator, revision: p.revision, dailyBudget: span.budget };
      const entry = await definitionOf(p.evaluatorId, p.revision);
      if (!entry) return noop;
      const early = unjudgeable(span);
      if (early) return result(p, evaluator.name, early);
      if (evaluator.dailyBudget !== null && !(await takeBudget(evaluator.id, evaluator.dailyBudget)))
        return result(p, evaluator.name, budgetSpent(evaluator.dailyBudget));
      const project = { projectId: p.projectId, projectName: span.project };
      const o = await evaluate(project, entry.judging, span, {
        signal,
        onCall: (c) => storeCall(p.projectId, evaluator, span, c),
      });
      const write = result(p, evaluator.name, o);
      if (evaluator.dailyBudget !== null) return write;
      return async (tx) => {
        await write(tx);
        await tx.$executeRaw`
          INSERT INTO evaluator_usage (evaluator_id, day, evaluations)
          SELECT e.id, (now() AT TIME ZONE 'UTC')::date, 1 FROM evaluators e WHERE e.id = ${evaluator.id}::uuid
          ON CONFLICT (evaluator_id, day) DO UPDATE SET evaluations = evaluator_usage.evaluations + 1`;
      };
    },
    giveUp(p, reason) {
      return async (tx) => {
        const evaluator = await tx.evaluator.findUnique({ where: { id: p.evaluatorId }, select: { name: true } });
        if (evaluator) await result(p, evaluator.name, outcome("error", reason))(tx);
      };
    },
  };

  /** Today's evaluations of an evaluator, counted; for one with a budget, how many of `n` it had room for. */
  async function countUsage(tx: Tx, evaluatorId: string, budget: number | null, n: number): Promise<number> {
    if (n === 0) return 0;
    const day = Prisma.sql`(now() AT TIME ZONE 'UTC')::date`;
    if (budget === null) {
      await tx.$executeRaw`
        INSERT INTO evaluator_usage (evaluator_id, day, evaluations) VALUES (${evaluatorId}::uuid, ${day}, ${n})
        ON CONFLICT (evaluator_id, day) DO UPDATE SET evaluations = evaluator_usage.evaluations + ${n}`;
      return n;
    }
    // The row locked, so concurrent fanouts share what is left rather than each taking it.
    await tx.$executeRaw`
      INSERT INTO evaluator_usage (evaluator_id, day, evaluations) VALUES (${evaluatorId}::uuid, ${day}, 0)
      ON CONFLICT (evaluator_id, day) DO NOTHING`;
    const [usage] = await tx.$queryRaw<{ evaluations: number }[]>`
      SELECT evaluations FROM evaluator_usage WHERE evaluator_id = ${evaluatorId}::uuid AND day = ${day} FOR UPDATE`;
    const granted = Math.max(0, Math.min(n, budget - (usage?.evaluations ?? 0)));
    if (granted > 0)
      await tx.$executeRaw`
        UPDATE evaluator_usage SET evaluations = evaluations + ${granted}
        WHERE evaluator_id = ${evaluatorId}::uuid AND day = ${day}`;
    return granted;
  }

  /**
   * Deterministic checks' results of a fanout, written in its completion: only for evaluators that still exist (held
   * until the commit), and within each one's daily budget (the rest skipped with the reason).
   */
  const checkResults =
    (projectId: string, evaluators: CheckedEvaluator[]): TxCompletion =>
    async (tx) => {
      const ids = evaluators.map((e) => e.id);
      const held = await tx.$queryRaw<{ id: string; revision: number; enabled: boolean }[]>`
        SELECT id::text AS id, revision, enabled FROM evaluators WHERE id = ANY(${ids}::uuid[]) ORDER BY id FOR KEY SHARE`;
      // Turned off or changed while the chunk was checked: from then on it judges nothing more by this definition.
      const current = new Set(held.filter((h) => h.enabled).map((h) => `${h.id}:${h.revision}`));
      const rows: EvalResult[] = [];
      for (const e of evaluators) {
        if (!current.has(`${e.id}:${e.revision}`)) continue;
        const judged = e.results.filter((r) => r.judged);
        let room = await countUsage(tx, e.id, e.dailyBudget, judged.length);
        for (const r of e.results) {
          const spent = r.judged && room-- <= 0;
          const o = spent ? budgetSpent(e.dailyBudget!) : r.outcome;
          rows.push({
            projectId,
            traceId: r.traceId,
            spanId: r.spanId,
            name: e.name,
            revision: e.revision,
            status: o.status,
            score: o.score,
            reason: o.reason,
            details: o.details,
          });
        }
      }
      await writeEvalResults(tx, rows);
    };

  const fanoutQueue: Queue<z.infer<typeof FanoutPayload>> = {
    name: "evaluations.fanout",
    payload: FanoutPayload,
    maxAttempts: 10,
    // One chunk at a time is thousands of checks a second; a second would only take more from ingest.
    concurrency: 1,
    background: true,
    async run(p) {
      // In id order: the usage rows a completion locks are then locked in one order by every instance.
      const evaluators = await db.evaluator.findMany({
        where: { projectId: p.projectId, enabled: true },
        orderBy: { id: "asc" },
      });
      const where =
        "ids" in p
          ? Prisma.sql`s.id = ANY(${p.ids}::bigint[])`
          : Prisma.sql`(s.trace_id, s.span_id) IN (SELECT k.t, k.s FROM jsonb_to_recordset(${JSON.stringify(p.spans.map(([t, sp]) => ({ t, s: sp })))}::jsonb) AS k(t text, s text))`;
      if (evaluators.length === 0) return noop;
      const defs = (
        await Promise.all(evaluators.map(async (e) => ({ e, entry: await definitionOf(e.id, e.revision) })))
      ).flatMap(({ e, entry }) => (entry ? [{ e, ...entry }] : []));
      const checks = defs.filter((d) => d.judging.kind === "check");
      // The attributes (the answer's text) only when a check reads them here; a judge's job reads its span itself.
      const { rows: spans } = await database.query<EvalSpan>(Prisma.sql`
        SELECT ${checks.length ? EVAL_SPAN_COLUMNS : Prisma.sql`s.trace_id, s.span_id, s.prompt_name, s.label`}
        FROM spans s
        WHERE ${where} AND s.project_id = ${p.projectId}::uuid AND ${COUNTED_SPANS_SQL}`);
      const chosen = (d: (typeof defs)[number], span: EvalSpan) =>
        inTarget(d.def.target, { promptName: span.prompt_name, label: span.label }) &&
        sampled(span.span_id, d.def.sampleRate);
      // Deterministic checks are judged here, a chunk at a time (a job and a statement per span would cost more than
      // storing the span did), yielding to the event loop now and then so that a chunk of long answers holds nothing;
      // each span's answer is read once, when a check first needs it.
      const texts = new Map<EvalSpan, ReturnType<typeof answerOf>>();
      const checked: CheckedEvaluator[] = [];
      let slice = performance.now();
      for (const d of checks) {
        if (d.judging.kind !== "check") continue;
        const results: CheckedEvaluator["results"] = [];
        for (const span of spans) {
          if (performance.now() - slice > YIELD_AFTER_MS) {
            await new Promise((r) => setImmediate(r));
            slice = performance.now();
          }
          if (!chosen(d, span)) continue;
          let text = texts.get(span);
          if (!text) texts.set(span, (text = answerOf(span)));
          if ("status" in text) {
            results.push({ traceId: span.trace_id, spanId: span.span_id, judged: false, outcome: text });
            continue;
          }
          const verdict = d.judging.check(text.output);
          results.push({
            traceId: span.trace_id,
            spanId: span.span_id,
            judged: true,
            outcome: {
              status: verdict.status,
              score: null,
              reason: verdict.reason,
              details: null,
              output: text.output,
            },
          });
        }
        if (results.length)
          checked.push({ id: d.e.id, name: d.e.name, revision: d.e.revision, dailyBudget: d.e.dailyBudget, results });
      }
      const jobs: { key: string; payload: EvaluatePayload }[] = [];
      for (const d of defs) {
        if (d.judging.kind === "check") continue;
        for (const span of spans) {
          if (!chosen(d, span)) continue;
          jobs.push({
            key: evaluateKey(d.e.id, d.e.revision, span.trace_id, span.span_id),
            payload: {
              projectId: p.projectId,
              evaluatorId: d.e.id,
              revision: d.e.revision,
              traceId: span.trace_id,
              spanId: span.span_id,
            },
          });
        }
      }
      if (jobs.length === 0 && checked.length === 0) return noop;
      return async (tx) => {
        if (checked.length) await checkResults(p.projectId, checked)(tx);
        if (jobs.length) {
          await runnerOf().enqueueMany(evaluateQueue, jobs, { projectId: p.projectId }, tx);
          afterCommit(evaluateQueue);
        }
      };
    },
    // The spans are stored: a fanout that keeps failing (the database) leaves them unevaluated, which a backfill can
    // still evaluate. Logged, as nothing else will say it.
    giveUp(p, reason) {
      return async () => {
        logger.error(
          { projectId: p.projectId, spans: "ids" in p ? p.ids.length : p.spans.length, reason },
          "spans were not queued for evaluation",
        );
      };
    },
  };

  const backfillQueue: Queue<z.infer<typeof BackfillPayload>> = {
    name: "evaluations.backfill",
    payload: BackfillPayload,
    maxAttempts: 10,
    concurrency: 1,
    async run(p) {
      const backfill = await db.evaluatorBackfill.findUnique({
        where: { id: p.backfillId },
        include: { evaluator: true },
      });
      if (backfill?.status !== "running") return noop;
      const entry = await definitionOf(backfill.evaluatorId, backfill.revision);
      const evaluator = backfill.evaluator;
      if (!entry || evaluator.revision !== backfill.revision)
        return (tx) =>
          tx.evaluatorBackfill
            .update({ where: { id: backfill.id }, data: { status: "cancelled", finishedAt: new Date() } })
            .then(() => {});
      const { target, sampleRate } = entry.def;
      const room = backfill.maxSpans - backfill.queued;
      const { rows } = await database.query<{ id: string; trace_id: string; span_id: string }>(Prisma.sql`
        SELECT s.id::text AS id, s.trace_id, s.span_id FROM spans s
        WHERE s.project_id = ${evaluator.projectId}::uuid AND ${COUNTED_SPANS_SQL}
          AND s.start_time >= ${backfill.fromTime} AND s.start_time < ${backfill.toTime} AND s.id > ${backfill.cursor}
          ${target.prompt === null ? Prisma.empty : Prisma.sql`AND s.prompt_name = ${target.prompt}`}
          ${target.prefix === null ? Prisma.empty : Prisma.sql`AND starts_with(s.prompt_name, ${target.prefix})`}
          ${target.label === null ? Prisma.empty : Prisma.sql`AND s.label = ${target.label}`}
          AND NOT EXISTS (SELECT 1 FROM annotations an WHERE an.project_id = s.project_id AND an.trace_id = s.trace_id
            AND an.span_id = s.span_id AND an.name = ${evaluator.name} AND an.kind = 'eval'
            AND an.evaluator_revision = ${backfill.revision})
        ORDER BY s.id LIMIT ${BACKFILL_PAGE}`);
      const chosen = rows.filter((r) => sampled(r.span_id, sampleRate)).slice(0, room);
      const last = rows.length ? rows[rows.length - 1]!.id : backfill.cursor.toString();
      const finished = rows.length < BACKFILL_PAGE || chosen.length >= room;
      return async (tx) => {
        // A cancel that came while this page was read wins: its row lock orders the two.
        const [current] = await tx.$queryRaw<{ status: string }[]>`
          SELECT status FROM evaluator_backfills WHERE id = ${backfill.id}::uuid FOR UPDATE`;
        if (current?.status !== "running") return;
        const added = await runnerOf().enqueueMany(
          evaluateQueue,
          chosen.map((r) => ({
            key: evaluateKey(evaluator.id, backfill.revision, r.trace_id, r.span_id),
            payload: {
              projectId: evaluator.projectId,
              evaluatorId: evaluator.id,
              revision: backfill.revision,
              traceId: r.trace_id,
              spanId: r.span_id,
              backfillId: backfill.id,
            },
          })),
          { projectId: evaluator.projectId },
          tx,
        );
        await tx.evaluatorBackfill.update({
          where: { id: backfill.id },
          data: { queued: { increment: added }, cursor: BigInt(last), status: finished ? "queued" : "running" },
        });
        if (!finished)
          await runnerOf().enqueue(
            backfillQueue,
            `${backfill.id}:${last}`,
            { projectId: p.projectId, backfillId: backfill.id },
            { projectId: evaluator.projectId },
            tx,
          );
        afterCommit(evaluateQueue, backfillQueue);
      };
    },
    giveUp(p, reason) {
      return async (tx) => {
        logger.error({ backfill: p.backfillId, reason }, "backfill stopped");
        await tx.evaluatorBackfill.updateMany({
          where: { id: p.backfillId, status: "running" },
          data: { status: "cancelled", finishedAt: new Date() },
        });
      };
    },
  };

  const runnerOf = () => {
    if (!runner) throw new Error("evaluations are not attached to a job runner");
    return runner;
  };
  // Wakes this instance's workers once the completion that queued work has committed (the runner's loop turns first).
  const afterCommit = (...queues: Pick<Queue<never>, "name">[]) => setImmediate(() => runner?.wake(...queues));

  const followUp: SpanFollowUp = {
    sql: (projectId) =>
      insertJobsSql(
        fanoutQueue as Queue<never>,
        Prisma.sql`
        SELECT 'spans:' || min(ins.id)::text AS key, ${projectId}::uuid AS project_id,
          jsonb_build_object('projectId', ${projectId}::text, 'ids', jsonb_agg(ins.id::text)) AS payload
        FROM ins
        WHERE ins.span_kind = 'LLM'
          AND EXISTS (SELECT 1 FROM evaluators e WHERE e.project_id = ${projectId}::uuid AND e.enabled)
        HAVING count(*) > 0`,
      ),
    onQueued: () => runner?.wake(fanoutQueue),
  };

  return {
    queues: [fanoutQueue, evaluateQueue, backfillQueue] as Queue<never>[],
    evaluateQueue,
    backfillQueue,
    followUp,
    attach(r: JobRunner) {
      runner = r;
    },
    runner: runnerOf,
    definitionOf,
    evaluate,
    /** Stores the judge calls not stored yet (when stopping). */
    flush: () => calls.flush(),
  };
}

/** Spans buffered per project, stored when a batch fills or shortly after the first of it. */
function createCallBuffer(store: (projectId: string, spans: OtlpSpan[]) => Promise<void>) {
  const MAX_SPANS = 200;
  const WAIT_MS = 250;
  const buffered = new Map<string, OtlpSpan[]>();
  let timer: NodeJS.Timeout | undefined;
  let storing = Promise.resolve();
  const flush = (): Promise<void> => {
    clearTimeout(timer);
    timer = undefined;
    const batches = [...buffered];
    buffered.clear();
    storing = storing.then(async () => {
      for (const [projectId, spans] of batches) await store(projectId, spans);
    });
    return storing;
  };
  return {
    add(projectId: string, spans: OtlpSpan[]) {
      const list = buffered.get(projectId) ?? [];
      list.push(...spans);
      buffered.set(projectId, list);
      if (list.length >= MAX_SPANS) void flush();
      else timer ??= setTimeout(() => void flush(), WAIT_MS);
    },
    flush,
  };
}
export type Evaluations = ReturnType<typeof createEvaluations>;

export function evaluateKey(evaluatorId: string, revision: number, traceId: string, spanId: string): string {
  return `${evaluatorId}:${revision}:${traceId}:${spanId}`;
}

function outcome(status: EvalStatus, reason: string, output: string | null = null): Outcome {
  return { status, score: null, reason, details: null, output };
}

function budgetSpent(budget: number): Outcome {
  return outcome(
    "skipped",
    `the evaluator's daily budget of ${budget} evaluations is spent for today (UTC); it resumes tomorrow`,
  );
}
