// Gates (the only writer of `gates`): a label's policy that a version reaches it only after an experiment showed it
// no worse than what the label holds. Every writer of a label's "set" (a move, a publish with labels, a push) asks
// `enforce` inside its transaction, under the prompt's lock, so the verdict and the move see the same label; a
// rollback never asks (getting back to a known version must not wait on anything).
import type { Gate, GateVerdict, LabelEvent, PutGateBody } from "@promptreg/client/contract";
import { hasRole, type Principal, requireRole } from "../auth/principal.js";
import type { InvalidationBus } from "../db/invalidation.js";
import type { ReadDb } from "../db/writes.js";
import { unknownEvaluators } from "../experiments/builtin.js";
import { compareRuns } from "../experiments/compare.js";
import type { Gate as GateRow } from "../generated/prisma/client.js";
import { AppError, notFound } from "../http/errors.js";
import { invalidRequest, type Issue } from "../http/validate.js";
import { checkSettableLabel, heldVersion } from "../labels/labels.service.js";
import { findPrompt, findVersion } from "../prompts/lookup.js";

/** What a gate recorded on a move, as the ledger keeps it. */
export type GateRecord = NonNullable<LabelEvent["gate"]>;

export interface GateQuestion {
  projectId: string;
  /** The prompt, by id (its ledger, when it was created) and by name (experiments name it). */
  promptId: string;
  prompt: string;
  label: string;
  /** What the label holds now (null: nothing). */
  holds: string | null;
  version: string;
}

/**
 * The version a move is compared with: what the label holds, or, when it holds nothing, the last version it held
 * (so deleting a label and setting it again is no way around its gate). Null only for a label that never held one.
 */
async function baselineOf(db: ReadDb, q: GateQuestion): Promise<{ version: string | null; held: boolean }> {
  if (q.holds !== null) return { version: q.holds, held: false };
  const last = await db.labelEvent.findFirst({
    where: { promptId: q.promptId, label: q.label, toVersion: { not: null } },
    orderBy: { id: "desc" },
    select: { toVersion: true },
  });
  return { version: last?.toVersion ?? null, held: true };
}

function gateView(g: GateRow): Gate {
  return {
    label: g.label,
    dataset: g.dataset,
    evaluators: g.evaluators,
    alpha: g.alpha,
    prefix: g.prefix,
    updatedBy: g.updatedBy,
    updatedAt: g.updatedAt.toISOString(),
  };
}

const percent = (rate: number | null) => (rate === null ? "n/a" : `${(rate * 100).toFixed(1)}%`);

/**
 * The gate's verdict on one move, read through `db` (the mover's transaction, so it sees what the move will see).
 * The experiment it rests on is the newest finished one of this prompt on the dataset's latest version that ran both
 * the version and what the label holds, with every evaluator of the gate.
 */
export async function gateVerdict(db: ReadDb, q: GateQuestion): Promise<GateVerdict> {
  const base = {
    label: q.label,
    prompt: q.prompt,
    version: q.version,
    holds: q.holds,
    dataset: null,
    experiment: null,
    failures: [],
  };
  const gate = await db.gate.findUnique({ where: { projectId_label: { projectId: q.projectId, label: q.label } } });
  if (!gate || !q.prompt.startsWith(gate.prefix))
    return { ...base, gated: false, allowed: true, message: `label '${q.label}' has no gate for '${q.prompt}'` };
  if (q.holds === q.version)
    return { ...base, gated: false, allowed: true, message: `'${q.label}' already holds ${q.version}` };
  const baselineVersion = await baselineOf(db, q);
  base.holds = baselineVersion.version;
  const refuse = (message: string, more: Partial<GateVerdict> = {}): GateVerdict => ({
    ...base,
    ...more,
    gated: true,
    allowed: false,
    message: `the gate on '${q.label}' refuses ${q.prompt}@${q.version}: ${message}`,
  });
  const dataset = await db.dataset.findUnique({
    where: { projectId_name: { projectId: q.projectId, name: gate.dataset } },
  });
  if (!dataset) return refuse(`its dataset '${gate.dataset}' no longer exists`);
  if (dataset.version === 0) return refuse(`its dataset '${gate.dataset}' has no items yet`);
  const onDataset = { dataset: { name: dataset.name, version: dataset.version } };
  const against = baselineVersion.version;
  const versions = against === null ? [q.version] : [q.version, against];
  const prompt = await db.prompt.findUnique({ where: { id: q.promptId }, select: { createdAt: true } });
  const experiment = await db.experiment.findFirst({
    where: {
      projectId: q.projectId,
      promptName: q.prompt,
      // Not an experiment of an earlier prompt of the same name (deleted, then published again).
      createdAt: { gte: prompt?.createdAt ?? new Date(0) },
      datasetId: dataset.id,
      datasetVersion: dataset.version,
      status: "finished",
      // Judged by the server: a client run's own evaluators are the application's word, not a test of it.
      evaluators: { hasEvery: gate.evaluators },
      NOT: { clientEvaluators: { hasSome: gate.evaluators } },
      AND: versions.map((version) => ({ runs: { some: { version } } })),
    },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    include: { runs: true },
  });
  const needed = `a finished experiment of ${q.prompt} ${against === null ? q.version : `${q.version} against ${against} (what '${q.label}' ${baselineVersion.held ? "held last" : "holds"})`} on dataset '${dataset.name}' version ${dataset.version} with evaluator${gate.evaluators.length > 1 ? "s" : ""} ${gate.evaluators.join(", ")}`;
  if (!experiment) return refuse(`it needs ${needed}; there is none`, onDataset);
  const found = { ...onDataset, experiment: experiment.id };
  if (against === null)
    return {
      ...base,
      ...found,
      gated: true,
      allowed: true,
      message: `experiment ${experiment.id} ran ${q.version} on '${dataset.name}' version ${dataset.version}; '${q.label}' held nothing to compare with`,
    };
  const runOf = (version: string) => experiment.runs.find((r) => r.version === version)!;
  const baseline = runOf(against);
  const candidate = runOf(q.version);
  const comparison = await compareRuns(db, {
    baseline: { ref: baseline.ref, version: baseline.version, runId: baseline.id },
    candidate: { ref: candidate.ref, version: candidate.version, runId: candidate.id },
    evaluators: gate.evaluators,
    alpha: gate.alpha,
    errorsFail: true,
  });
  const untested = comparison.evaluators.filter((e) => e.verdict === "insufficient_data").map((e) => e.name);
  if (untested.length)
    return refuse(
      `experiment ${experiment.id} has no item with a verdict of ${untested.join(", ")} on both versions: nothing was tested`,
      found,
    );
  const failures = comparison.evaluators
    .filter((e) => e.verdict === "worse")
    .map((e) => ({
      evaluator: e.name,
      baselinePassRate: e.baseline.passRate,
      candidatePassRate: e.candidate.passRate,
      regressed: e.regressed,
      improved: e.improved,
      pValue: e.pValue,
    }));
  if (failures.length)
    return refuse(
      `experiment ${experiment.id} found a significant regression (α = ${gate.alpha}): ${failures
        .map(
          (f) =>
            `${f.evaluator} ${percent(f.baselinePassRate)} → ${percent(f.candidatePassRate)}, ${f.regressed} items regressed and ${f.improved} improved, p = ${f.pValue?.toPrecision(3)}`,
        )
        .join("; ")}`,
      { ...found, failures },
    );
  return {
    ...base,
    ...found,
    gated: true,
    allowed: true,
    message: `experiment ${experiment.id}: ${comparison.verdict}`,
  };
}

export type GatesService = ReturnType<typeof createGatesService>;

export function createGatesService({ db, bus }: { db: ReadDb; bus: InvalidationBus }) {
  async function find(p: Principal, label: string): Promise<GateRow> {
    const gate = await db.gate.findUnique({ where: { projectId_label: { projectId: p.projectId, label } } });
    if (!gate) throw notFound(`gate of label '${label}'`);
    return gate;
  }

  return {
    async list(p: Principal): Promise<Gate[]> {
      const rows = await db.gate.findMany({ where: { projectId: p.projectId }, orderBy: { label: "asc" } });
      return rows.map(gateView);
    },

    async get(p: Principal, label: string): Promise<Gate> {
      return gateView(await find(p, label));
    },

    /** Sets a label's gate (admin: it decides what reaches production). */
    async put(p: Principal, label: string, body: PutGateBody): Promise<Gate> {
      checkSettableLabel(label);
      requireRole(p, "admin");
      const issues: Issue[] = [];
      const dataset = await db.dataset.findUnique({
        where: { projectId_name: { projectId: p.projectId, name: body.dataset } },
      });
      if (!dataset)
        issues.push({ path: "body.dataset", message: `no dataset named '${body.dataset}' in this project` });
      issues.push(...(await unknownEvaluators(db, p.projectId, body.evaluators)));
      if (issues.length) throw invalidRequest("body", issues);
      const data = {
        dataset: body.dataset,
        evaluators: [...new Set(body.evaluators)],
        alpha: body.alpha,
        prefix: body.prefix,
        updatedBy: p.keyName,
        updatedAt: new Date(),
      };
      const row = await bus.write(({ tx }) =>
        tx.gate.upsert({
          where: { projectId_label: { projectId: p.projectId, label } },
          create: { projectId: p.projectId, label, ...data },
          update: data,
        }),
      );
      return gateView(row);
    },

    async remove(p: Principal, label: string): Promise<void> {
      requireRole(p, "admin");
      const gate = await find(p, label);
      await bus.write(({ tx }) => tx.gate.delete({ where: { id: gate.id } }));
    },

    /** The verdict a move would get now, without moving anything. */
    async check(p: Principal, label: string, q: { prompt: string; version: string }): Promise<GateVerdict> {
      const prompt = await findPrompt(db, p.projectId, q.prompt);
      const version = await findVersion(db, prompt.id, q.prompt, q.version.trim());
      const holds = await heldVersion(db, prompt.id, label);
      return gateVerdict(db, {
        projectId: p.projectId,
        promptId: prompt.id,
        prompt: q.prompt,
        label,
        holds,
        version: version.version,
      });
    },

    /**
     * Inside a label writer's transaction: passes a move the gate allows (with what to record in the ledger), refuses
     * one it does not (409 `gate_failed`, the verdict in its details), unless an admin overrides it with a reason.
     */
    async enforce(
      tx: ReadDb,
      p: Principal,
      q: Omit<GateQuestion, "projectId">,
      override: { override?: boolean; reason?: string },
    ): Promise<GateRecord | null> {
      const verdict = await gateVerdict(tx, { projectId: p.projectId, ...q });
      if (!verdict.gated) return null;
      if (verdict.allowed) return { outcome: "passed", experiment: verdict.experiment, detail: verdict.message };
      if (!override.override)
        throw new AppError(
          "gate_failed",
          `${verdict.message}${hasRole(p, "admin") ? " (an admin may override it with {override: true, reason})" : ""}`,
          { gate: verdict },
        );
      if (!hasRole(p, "admin"))
        throw new AppError("forbidden", `only an admin key may override the gate on '${q.label}'`);
      if (!override.reason?.trim())
        throw invalidRequest("body", [{ path: "body.reason", message: "an override of a gate needs a reason" }]);
      return { outcome: "overridden", experiment: verdict.experiment, detail: verdict.message };
    },
  };
}
