// Guarded rollouts: the only module that writes the rollouts table (but for the abort a move of the label makes, see
// rollout-rows.ts). A rollout sends a growing share of a label's traffic to a candidate version; the guard compares
// the two arms' spans and advances, holds, or aborts it (guard.ts decides, this module applies). Every state change
// is one transaction under the prompt's row lock, like every other change to a prompt's labels, and is a ledger entry
// of the label with its reason (labels.service.ts writes the ledger).
//
// On several instances each evaluation happens once: a tick claims the rollouts that are due by moving their
// `evaluated_at` in one UPDATE over rows taken `FOR UPDATE SKIP LOCKED`; an instance that comes second finds them
// locked or no longer due. Everything a rollout is lives in its row, so a restarted instance continues where it was.
import type { Logger } from "pino";
import type {
  Rollout as RolloutView,
  RolloutArm,
  RolloutVerdict,
  StartRolloutBodySchema,
} from "@promptreg/client/contract";
import type { z } from "zod";
import type { Principal } from "../auth/principal.js";
import type { Database } from "../db/client.js";
import type { InvalidationBus } from "../db/invalidation.js";
import type { ReadDb, Write } from "../db/writes.js";
import { rawFigures, rawRows } from "../compare/comparison-raw.js";
import { type FailureDefinition, parseFailure } from "../compare/failure.js";
import type { GatesService } from "../gates/gates.service.js";
import type { Prisma, Rollout as RolloutRow } from "../generated/prisma/client.js";
import { AppError, notFound } from "../http/errors.js";
import {
  checkSettableLabel,
  exactVersion,
  heldVersion,
  recordRolloutEventInTx,
  requireLabelRole,
  setLabelInTx,
} from "../labels/labels.service.js";
import { TX_OPTIONS, findPrompt, findVersion, lockPrompt } from "../prompts/lookup.js";
import { type ArmFigures, decide, type GuardSettings } from "./guard.js";
import { ACTIVE_STATES, type StoredStep } from "./rollout-rows.js";

/** A rollout's guard as stored: the request's, with the failure definition kept as given (and parsed to judge). */
interface StoredGuard extends GuardSettings {
  failure: string;
  threshold: number | null;
  revision: number | null;
}

type Row = RolloutRow & { baseline: { id: string; version: string }; candidate: { id: string; version: string } };
const withVersions = {
  baseline: { select: { id: true, version: true } },
  candidate: { select: { id: true, version: true } },
} as const;

/** Rollouts one tick claims at most: the rest are due at the next. */
const CLAIM_BATCH = 50;

type StartRollout = z.infer<typeof StartRolloutBodySchema>;

export type RolloutAction = "pause" | "resume" | "advance" | "abort";

export type RolloutsService = ReturnType<typeof createRolloutsService>;

export function createRolloutsService({
  db,
  database,
  bus,
  gates,
  now,
  intervalMs,
  logger,
  onRound,
}: {
  db: ReadDb;
  /** For the arms' figures, a statement over many spans (src/db/README.md). */
  database: Database;
  bus: InvalidationBus;
  gates: Pick<GatesService, "enforce">;
  /** The clock of steps and evaluations (tests drive it). */
  now: () => number;
  /** How often the guard evaluates each running rollout. */
  intervalMs: number;
  logger: Logger;
  /** Told after each round of the guard's timer, with the rollouts it evaluated (tests wait on it). */
  onRound?: (evaluated: number) => void;
}) {
  const stepsOf = (row: Row) => row.steps as unknown as StoredStep[];
  const guardOf = (row: Row) => row.guard as unknown as StoredGuard;
  const failureOf = (g: StoredGuard): FailureDefinition =>
    parseFailure(g.failure, g.threshold ?? undefined, g.revision ?? undefined);
  const shareOf = (row: Row) =>
    row.state === "aborted" ? 0 : row.state === "finished" ? 1 : stepsOf(row)[row.step - 1]!.share;

  /** Both arms' figures over the rollout's spans, as compare computes them; `from` limits them to a step's. */
  async function armFigures(projectId: string, row: Row, from?: Date): Promise<Record<RolloutArm, ArmFigures>> {
    const rows = await rawRows(database, projectId, [row.baseline.id, row.candidate.id], {
      failure: failureOf(guardOf(row)),
      unit: "span",
      minSample: 1,
      rollout: row.id,
      from,
    });
    const arm = (v: { id: string; version: string }): ArmFigures => {
      const f = rawFigures(rows, v.id);
      return {
        version: v.version,
        units: f.units,
        failures: f.failures,
        latencyP95Ms: f.pct?.[1] ?? null,
        costMeanUsd: f.cost.mean,
      };
    };
    return { baseline: arm(row.baseline), candidate: arm(row.candidate) };
  }

  async function view(projectId: string, name: string, row: Row): Promise<RolloutView> {
    const g = guardOf(row);
    const arms = await armFigures(projectId, row);
    const rateOf = (a: ArmFigures) => ({ ...a, failureRate: a.units ? a.failures / a.units : null });
    return {
      id: row.id,
      prompt: name,
      label: row.label,
      state: row.state as RolloutView["state"],
      baselineVersion: row.baseline.version,
      candidateVersion: row.candidate.version,
      steps: stepsOf(row),
      step: row.step,
      share: shareOf(row),
      stepStartedAt: row.stepStartedAt.toISOString(),
      guard: {
        failure: g.failure,
        threshold: g.threshold,
        revision: g.revision,
        alpha: g.alpha,
        minSample: g.minSample,
        maxP95IncreaseMs: g.maxP95IncreaseMs,
        maxMeanCostIncrease: g.maxMeanCostIncrease,
      },
      autoRollback: row.autoRollback,
      startedBy: row.startedBy,
      createdAt: row.createdAt.toISOString(),
      endedAt: row.endedAt?.toISOString() ?? null,
      evaluations: row.evaluations,
      arms: { baseline: rateOf(arms.baseline), candidate: rateOf(arms.candidate) },
      verdict: (row.verdict as RolloutVerdict | null) ?? null,
    };
  }

  /** The label's running or paused rollout, read in the transaction holding the prompt's lock. */
  async function activeInTx(w: Write, promptId: string, name: string, label: string): Promise<Row> {
    const row = await w.tx.rollout.findFirst({
      where: { promptId, label, state: { in: ACTIVE_STATES } },
      include: withVersions,
    });
    if (!row) throw notFound(`a running or paused rollout of label '${label}' of prompt '${name}'`);
    return row;
  }

  /**
   * Applies one state change to `row` inside the write holding the prompt's lock: the row, the ledger entry (with
   * `reason`) and the change. A finish moves the label to the candidate through labels.service.
   */
  async function transition(
    w: Write,
    prompt: { id: string; projectId: string; name: string },
    row: Row,
    change: "paused" | "resumed" | "advanced" | "aborted" | "finished",
    actor: string,
    reason: string,
    verdict?: RolloutVerdict,
  ): Promise<void> {
    const at = new Date(now());
    const steps = stepsOf(row);
    const data: Prisma.RolloutUpdateInput = verdict ? { verdict: verdict as unknown as Prisma.InputJsonValue } : {};
    let step = row.step;
    let share = steps[row.step - 1]!.share;
    if (change === "paused") data.state = "paused";
    // The step is watched afresh after a pause: its minimum time and units count again from the resume.
    if (change === "resumed") Object.assign(data, { state: "running", stepStartedAt: at });
    if (change === "advanced") {
      step = row.step + 1;
      share = steps[step - 1]!.share;
      Object.assign(data, { step, stepStartedAt: at });
    }
    if (change === "aborted") {
      share = 0;
      Object.assign(data, { state: "aborted", endedAt: at });
    }
    if (change === "finished") {
      share = 1;
      Object.assign(data, { state: "finished", endedAt: at });
    }
    await w.tx.rollout.update({ where: { id: row.id }, data });
    const base = { promptId: prompt.id, projectId: prompt.projectId, name: prompt.name, label: row.label, actor };
    if (change === "finished") {
      await setLabelInTx(w, {
        ...base,
        version: row.candidate,
        reason,
        action: "rollout_finished",
      });
      w.record({
        kind: "rollout.changed",
        projectId: prompt.projectId,
        name: prompt.name,
        label: row.label,
        rolloutId: row.id,
        action: "finished",
        step,
        share,
      });
      return;
    }
    await recordRolloutEventInTx(w, {
      ...base,
      rollout: { id: row.id, step, share },
      action: `rollout_${change}`,
      version: row.baseline.version,
      reason,
    });
  }

  /** Claims the running rollouts that are due (see the header), each for this instance alone. */
  async function claimDue(at: Date): Promise<string[]> {
    // A tick that comes a little early (timers drift) still finds a rollout due: within a tenth of the interval.
    const dueBefore = new Date(at.getTime() - Math.floor(intervalMs * 0.9));
    return bus.write(async ({ tx }) => {
      const rows = await tx.$queryRaw<{ id: string }[]>`
        UPDATE rollouts SET evaluated_at = ${at}, evaluations = evaluations + 1
        WHERE id IN (
          SELECT id FROM rollouts
          WHERE state = 'running' AND (evaluated_at IS NULL OR evaluated_at <= ${dueBefore})
          ORDER BY evaluated_at NULLS FIRST
          LIMIT ${CLAIM_BATCH}
          FOR UPDATE SKIP LOCKED)
        RETURNING id::text AS id`;
      return rows.map((r) => r.id);
    });
  }

  /** One evaluation of a claimed rollout: figures first (outside any transaction), then the decision applied. */
  async function evaluate(id: string, at: Date): Promise<RolloutVerdict["outcome"] | undefined> {
    const row = await db.rollout.findUnique({ where: { id }, include: { ...withVersions, prompt: true } });
    if (row?.state !== "running") return undefined;
    const steps = stepsOf(row);
    const current = steps[row.step - 1]!;
    const arms = await armFigures(row.prompt.projectId, row);
    const stepUnits =
      current.minUnits > 0 ? (await armFigures(row.prompt.projectId, row, row.stepStartedAt)).candidate.units : 0;
    const g = guardOf(row);
    const decision = decide({
      guard: g,
      autoRollback: row.autoRollback,
      steps,
      step: row.step,
      baseline: arms.baseline,
      candidate: arms.candidate,
      stepElapsedMs: at.getTime() - row.stepStartedAt.getTime(),
      stepUnits,
    });
    const rate = (a: ArmFigures) => ({ ...a, failureRate: a.units ? a.failures / a.units : null });
    const verdict: RolloutVerdict = {
      outcome: decision.outcome,
      sentence: decision.sentence,
      at: at.toISOString(),
      statistic: decision.statistic,
      threshold: decision.threshold,
      baseline: rate(arms.baseline),
      candidate: rate(arms.candidate),
    };
    const prompt = { id: row.promptId, projectId: row.prompt.projectId, name: row.prompt.name };
    await bus.write(async (w) => {
      await lockPrompt(w.tx, row.promptId);
      const fresh = await w.tx.rollout.findUnique({ where: { id }, include: withVersions });
      // Paused, advanced or ended by hand since the figures were read: they judged a rollout that is no more.
      if (fresh?.state !== "running" || fresh.step !== row.step) return;
      if (decision.outcome === "hold") {
        await w.tx.rollout.update({ where: { id }, data: { verdict: verdict as unknown as Prisma.InputJsonValue } });
        return;
      }
      const change = ({ advance: "advanced", finish: "finished", abort: "aborted", pause: "paused" } as const)[
        decision.outcome
      ];
      await transition(w, prompt, fresh, change, "guard", decision.sentence, verdict);
    }, TX_OPTIONS);
    return decision.outcome;
  }

  /**
   * One round of the guard: claims the due rollouts and evaluates each. Resolves when done; an evaluation that fails
   * is logged and tried again at the next round.
   */
  async function tick(): Promise<number> {
    const at = new Date(now());
    const ids = await claimDue(at);
    for (const id of ids)
      await evaluate(id, at).catch((err: unknown) =>
        logger.error({ err, rollout: id }, "rollout evaluation failed; it is due again next round"),
      );
    return ids.length;
  }

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const schedule = () => {
    timer = setTimeout(() => {
      running = tick()
        .then((evaluated) => onRound?.(evaluated))
        .catch((err: unknown) => logger.error({ err }, "rollout guard round failed"))
        .finally(() => {
          running = undefined;
          // Not after stopGuard, which cleared the timer.
          if (timer) schedule();
        });
    }, intervalMs);
    timer.unref?.();
  };

  return {
    async start(p: Principal, name: string, label: string, body: StartRollout): Promise<RolloutView> {
      checkSettableLabel(label);
      const candidate = exactVersion(label, body.candidate, "body.candidate");
      const { guard } = body;
      // Checked now, so that a misspelt definition is a 422 here rather than a guard that never judges.
      parseFailure(guard.failure, guard.threshold, guard.revision, {
        failure: "body.guard.failure",
        revision: "body.guard.revision",
      });
      requireLabelRole(p, label);
      const prompt = await findPrompt(db, p.projectId, name);
      const row = await bus.write(async (w) => {
        await lockPrompt(w.tx, prompt.id);
        const held = await heldVersion(w.tx, prompt.id, label);
        if (held === null)
          throw new AppError(
            "conflict",
            `label '${label}' of prompt '${name}' holds no version: a rollout needs one as its baseline (set the label first)`,
          );
        if (held === candidate)
          throw new AppError("conflict", `label '${label}' already holds ${candidate}: nothing to roll out`);
        const active = await w.tx.rollout.findFirst({
          where: { promptId: prompt.id, label, state: { in: ACTIVE_STATES } },
          select: { id: true, state: true },
        });
        if (active)
          throw new AppError(
            "conflict",
            `label '${label}' is already under rollout ${active.id} (${active.state}): abort or finish it first`,
          );
        const [baseline, target] = await Promise.all([
          findVersion(w.tx, prompt.id, name, held),
          findVersion(w.tx, prompt.id, name, candidate),
        ]);
        // The rollout ends in a move of the label to the candidate: the label's gate is asked now, not at the end.
        await gates.enforce(w.tx, p, { promptId: prompt.id, prompt: name, label, holds: held, version: candidate }, {});
        const at = new Date(now());
        const steps: StoredStep[] = body.steps.map((s) => ({
          share: s.share,
          minDurationMs: s.minDurationMs ?? 0,
          minUnits: s.minUnits ?? 0,
        }));
        const stored: StoredGuard = {
          failure: guard.failure,
          threshold: guard.threshold ?? null,
          revision: guard.revision ?? null,
          alpha: guard.alpha,
          minSample: guard.minSample,
          maxP95IncreaseMs: guard.maxP95IncreaseMs ?? null,
          maxMeanCostIncrease: guard.maxMeanCostIncrease ?? null,
        };
        const created = await w.tx.rollout.create({
          data: {
            promptId: prompt.id,
            label,
            state: "running",
            baselineVersionId: baseline.id,
            candidateVersionId: target.id,
            steps: steps as unknown as Prisma.InputJsonValue,
            step: 1,
            stepStartedAt: at,
            guard: stored as unknown as Prisma.InputJsonValue,
            autoRollback: body.autoRollback,
            startedBy: p.keyName,
            createdAt: at,
          },
          include: withVersions,
        });
        const plan = steps.map((s) => `${Number((s.share * 100).toPrecision(4))}%`).join(" → ");
        await recordRolloutEventInTx(w, {
          promptId: prompt.id,
          projectId: p.projectId,
          name,
          label,
          rollout: { id: created.id, step: 1, share: steps[0]!.share },
          action: "rollout_started",
          version: held,
          actor: p.keyName,
          reason: body.reason ?? `rollout of ${candidate} over ${held}: ${plan}`,
        });
        return created;
      }, TX_OPTIONS);
      return view(p.projectId, name, row);
    },

    /** The label's current rollout, or its last one. */
    async get(p: Principal, name: string, label: string): Promise<RolloutView> {
      const prompt = await findPrompt(db, p.projectId, name);
      const row = await db.rollout.findFirst({
        where: { promptId: prompt.id, label },
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        include: withVersions,
      });
      if (!row) throw notFound(`a rollout of label '${label}' of prompt '${name}'`);
      return view(p.projectId, name, row);
    },

    /** Pause, resume, advance (a finish past the last step) or abort, by hand. */
    async act(p: Principal, name: string, label: string, action: RolloutAction, reason?: string) {
      requireLabelRole(p, label);
      const prompt = await findPrompt(db, p.projectId, name);
      const row = await bus.write(async (w) => {
        await lockPrompt(w.tx, prompt.id);
        const row = await activeInTx(w, prompt.id, name, label);
        const state = row.state as "running" | "paused";
        if (action === "pause" && state === "paused")
          throw new AppError("conflict", `rollout ${row.id} is paused already`);
        if (action === "resume" && state === "running")
          throw new AppError("conflict", `rollout ${row.id} is running already`);
        const change =
          action === "advance"
            ? row.step === stepsOf(row).length
              ? "finished"
              : "advanced"
            : ({ pause: "paused", resume: "resumed", abort: "aborted" } as const)[action];
        const why = reason ?? `${action} by ${p.keyName}`;
        await transition(w, { id: prompt.id, projectId: p.projectId, name }, row, change, p.keyName, why);
        return w.tx.rollout.findUniqueOrThrow({ where: { id: row.id }, include: withVersions });
      }, TX_OPTIONS);
      return view(p.projectId, name, row);
    },

    tick,

    /** Runs the guard every `intervalMs` until `stopGuard`; a round never overlaps the previous one. */
    startGuard(): void {
      if (!timer) schedule();
    },

    async stopGuard(): Promise<void> {
      clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
