// Labels and their ledger: the only module that writes the labels and label_events tables. A move is one row
// upsert plus one ledger entry in the same transaction, under the prompt's row lock, so the ledger's "from" is
// always what the label really held. Other modules read the ledger through the functions here (lastLabelMove,
// labelEventAt, labelEventsBetween), so each question about it is asked by one query; the one exception is ingest,
// which resolves a label to its version inside the statement that inserts the spans.
import semver from "semver";
import {
  LATEST_LABEL,
  LabelNameSchema,
  type ROLLOUT_ACTIONS,
  type LabelEvent as LabelEventView,
  type LabelView,
  type MoveLabelBody,
} from "@promptreg/client/contract";
import type { Principal } from "../auth/principal.js";
import type { GateRecord, GatesService } from "../gates/gates.service.js";
import { requireRole } from "../auth/principal.js";
import type { InvalidationBus } from "../db/invalidation.js";
import type { ReadDb, Write } from "../db/writes.js";
import type { LabelEvent } from "../generated/prisma/client.js";
import { decodeCursor, encodeCursor } from "../http/cursor.js";
import { AppError, notFound } from "../http/errors.js";
import { TX_OPTIONS, findPrompt, findVersion, lockPrompt } from "../prompts/lookup.js";
import { labelLooksLikeVersion } from "../prompts/refs.js";
import { endActiveRolloutInTx } from "../rollouts/rollout-rows.js";

export type LabelAction = LabelEventView["action"];
/** The actions that point a label at a version. */
export type MoveAction = "set" | "rollback" | "rollout_finished";

/** A label row with its version's number, as every listing shows it. */
export function labelView(
  row: { name: string; version: { version: string }; updatedAt: Date; updatedBy: string },
  protectedLabels: string[],
): LabelView {
  return {
    name: row.name,
    version: row.version.version,
    updatedAt: row.updatedAt.toISOString(),
    updatedBy: row.updatedBy,
    protected: protectedLabels.includes(row.name),
  };
}

function labelEventView(e: LabelEvent): LabelEventView {
  return {
    id: e.id.toString(),
    label: e.label,
    action: e.action as LabelAction,
    fromVersion: e.fromVersion,
    toVersion: e.toVersion,
    actor: e.actor,
    reason: e.reason,
    gate: (e.gate as LabelEventView["gate"]) ?? null,
    createdAt: e.createdAt.toISOString(),
  };
}

/** The label's ledger entries recorded in [from, to) (an absent end is open), oldest first. */
export async function labelEventsBetween(
  db: ReadDb,
  promptId: string,
  label: string,
  { from, to }: { from?: Date; to?: Date },
): Promise<LabelEventView[]> {
  const rows = await db.labelEvent.findMany({
    where: {
      promptId,
      label,
      ...(from || to ? { createdAt: { ...(from ? { gte: from } : {}), ...(to ? { lt: to } : {}) } } : {}),
    },
    orderBy: { id: "asc" },
  });
  return rows.map(labelEventView);
}

/** The label's ledger entry in force at `at` (its latest recorded at or before then), if it existed by then. */
export async function labelEventAt(
  db: ReadDb,
  promptId: string,
  label: string,
  at: Date,
): Promise<LabelEventView | undefined> {
  const row = await db.labelEvent.findFirst({
    where: { promptId, label, createdAt: { lte: at } },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
  });
  return row ? labelEventView(row) : undefined;
}

export interface SetLabelInput {
  /** The prompt, by id for the rows and by project and name for the change announced. */
  promptId: string;
  projectId: string;
  name: string;
  label: string;
  version: { id: string; version: string };
  actor: string;
  reason?: string;
  action: MoveAction;
  /** What the label's gate said of this move, when one applied. */
  gate?: GateRecord | null;
}

/** A rollout's state change, as its label's ledger records it. */
export interface RolloutEventInput {
  promptId: string;
  projectId: string;
  name: string;
  label: string;
  rollout: { id: string; step: number; share: number };
  action: Exclude<(typeof ROLLOUT_ACTIONS)[number], "rollout_finished">;
  /** The version the label holds (a rollout's state change does not move it). */
  version: string | null;
  actor: string;
  reason: string | null;
}

/**
 * Inside a transaction that holds the prompt's lock: records a rollout's state change as a ledger entry of its label
 * and as a change (caches drop the label's resolution, which carries the rollout's step). From and to are the version
 * the label holds, so that the entry is never taken for a move (lastLabelMove, labelEventAt, ingest's label lookup).
 */
export async function recordRolloutEventInTx({ tx, record }: Write, input: RolloutEventInput): Promise<void> {
  await tx.labelEvent.create({
    data: {
      promptId: input.promptId,
      label: input.label,
      action: input.action,
      fromVersion: input.version,
      toVersion: input.version,
      actor: input.actor,
      reason: input.reason,
    },
  });
  record({
    kind: "rollout.changed",
    projectId: input.projectId,
    name: input.name,
    label: input.label,
    rolloutId: input.rollout.id,
    action: input.action.slice("rollout_".length) as "started",
    step: input.rollout.step,
    share: input.rollout.share,
  });
}

/**
 * A move of a label under a rollout (by hand, a rollback, a publish) ends the rollout: its baseline is no longer
 * what the label holds. Recorded before the move, with the reason.
 */
async function endRolloutOnMove(
  w: Write,
  input: Pick<SetLabelInput, "promptId" | "projectId" | "name" | "label" | "actor">,
  held: string | null,
  why: string,
): Promise<void> {
  const ended = await endActiveRolloutInTx(w.tx, input.promptId, input.label, new Date());
  if (!ended) return;
  await recordRolloutEventInTx(w, {
    ...input,
    rollout: { ...ended, share: 0 },
    action: "rollout_aborted",
    version: held,
    reason: why,
  });
}

/** Inside a transaction that holds the prompt's lock: point the label at a version and record the move. */
export async function setLabelInTx(w: Write, input: SetLabelInput): Promise<{ from: string | null }> {
  const { tx, record } = w;
  const current = await tx.label.findUnique({
    where: { promptId_name: { promptId: input.promptId, name: input.label } },
    include: { version: { select: { version: true } } },
  });
  // A finish has ended its rollout already; any other move ends the label's rollout.
  if (input.action !== "rollout_finished")
    await endRolloutOnMove(
      w,
      input,
      current?.version.version ?? null,
      `label ${input.action === "rollback" ? "rolled back" : "moved"} to ${input.version.version} by ${input.actor}${input.reason ? `: ${input.reason}` : ""}`,
    );
  await tx.label.upsert({
    where: { promptId_name: { promptId: input.promptId, name: input.label } },
    create: { promptId: input.promptId, name: input.label, versionId: input.version.id, updatedBy: input.actor },
    update: { versionId: input.version.id, updatedBy: input.actor, updatedAt: new Date() },
  });
  const from = current?.version.version ?? null;
  await tx.labelEvent.create({
    data: {
      promptId: input.promptId,
      label: input.label,
      action: input.action,
      fromVersion: from,
      toVersion: input.version.version,
      actor: input.actor,
      reason: input.reason ?? null,
      ...(input.gate ? { gate: input.gate } : {}),
    },
  });
  record({
    kind: "label.moved",
    projectId: input.projectId,
    name: input.name,
    label: input.label,
    action: input.action,
    fromVersion: from,
    toVersion: input.version.version,
  });
  return { from };
}

/** The version a prompt's label holds, or null when it does not exist. */
export async function heldVersion(db: ReadDb, promptId: string, label: string): Promise<string | null> {
  const row = await db.label.findUnique({
    where: { promptId_name: { promptId, name: label } },
    select: { version: { select: { version: true } } },
  });
  return row?.version.version ?? null;
}

/** A move of a label that changed its version, as the ledger recorded it. */
export interface LabelMove {
  fromVersion: string | null;
  toVersion: string | null;
}

/**
 * The label's last real move, if it ever made one: its latest ledger entry that changed the version. Re-pointing a
 * label at the version it already holds is recorded but is not a move worth undoing or comparing across. Inside a
 * transaction holding the prompt's lock, pass the transaction: the answer then cannot change before it commits.
 */
export async function lastLabelMove(db: ReadDb, promptId: string, label: string): Promise<LabelMove | undefined> {
  const rows = await db.$queryRaw<{ from_version: string | null; to_version: string | null }[]>`
    SELECT from_version, to_version FROM label_events
    WHERE prompt_id = ${promptId}::uuid AND label = ${label} AND from_version IS DISTINCT FROM to_version
    ORDER BY id DESC LIMIT 1`;
  const last = rows[0];
  return last && { fromVersion: last.from_version, toVersion: last.to_version };
}

/**
 * A label name a caller may set: valid, not a version look-alike, and not the automatic `latest`. `path` names where
 * the request gave it, as every validation error does (`params.label` on the label routes, `body.labels.N` when
 * publishing).
 */
export function checkSettableLabel(label: string, path = "params.label"): void {
  const parsed = LabelNameSchema.safeParse(label);
  if (!parsed.success) throw labelError(label, "must match ^[a-z0-9][a-z0-9_.-]{0,35}$", path);
  if (label === LATEST_LABEL) throw labelError(label, "is kept on the highest version automatically", path);
  if (labelLooksLikeVersion(label))
    throw labelError(label, "looks like a version or range, which would make references ambiguous", path);
}

function labelError(label: string, message: string, path: string): AppError {
  return new AppError("validation_error", `label '${label}' ${message}`, { issues: [{ path, message }] });
}

/**
 * A label points at one version. A range or another label is refused by name rather than looked up (and "not
 * found"): the label would otherwise have to pick whatever matches today and silently keep it.
 */
export function exactVersion(label: string, version: string, path: string): string {
  const exact = semver.valid(version.trim());
  if (exact) return exact;
  const message = "must be an exact version such as 1.4.2";
  throw new AppError(
    "validation_error",
    `label ${label} must point to an exact version such as 1.4.2; got ${version}`,
    {
      issues: [{ path, message }],
    },
  );
}

/** Protected labels (per project, `production` by default) move only with an admin key. */
export function requireLabelRole(p: Principal, label: string): void {
  if (p.protectedLabels.includes(label)) {
    if (p.role !== "admin")
      throw new AppError("forbidden", `label '${label}' is protected: only an admin key may move or delete it`);
  } else requireRole(p, "write");
}

export type LabelsService = ReturnType<typeof createLabelsService>;

export function createLabelsService({
  db,
  bus,
  gates,
}: {
  db: ReadDb;
  bus: InvalidationBus;
  gates: Pick<GatesService, "enforce">;
}) {
  /** The label's gate on moving it to `version`, asked inside the move's transaction (see gates.service.ts). */
  async function throughGate(
    tx: ReadDb,
    p: Principal,
    prompt: { id: string; name: string },
    label: string,
    version: string,
    override: { override?: boolean; reason?: string },
  ) {
    const holds = await heldVersion(tx, prompt.id, label);
    return gates.enforce(tx, p, { promptId: prompt.id, prompt: prompt.name, label, holds, version }, override);
  }

  return {
    async list(p: Principal, name: string): Promise<LabelView[]> {
      const prompt = await findPrompt(db, p.projectId, name);
      const rows = await db.label.findMany({
        where: { promptId: prompt.id },
        include: { version: { select: { version: true } } },
        orderBy: { name: "asc" },
      });
      return rows.map((row) => labelView(row, p.protectedLabels));
    },

    async move(p: Principal, name: string, label: string, input: MoveLabelBody) {
      checkSettableLabel(label);
      const target = exactVersion(label, input.version, "body.version");
      requireLabelRole(p, label);
      const prompt = await findPrompt(db, p.projectId, name);
      return bus.write(async (w) => {
        await lockPrompt(w.tx, prompt.id);
        const version = await findVersion(w.tx, prompt.id, name, target);
        const gate = await throughGate(w.tx, p, { id: prompt.id, name }, label, version.version, input);
        const { from } = await setLabelInTx(w, {
          gate,
          promptId: prompt.id,
          projectId: p.projectId,
          name,
          label,
          version,
          actor: p.keyName,
          reason: input.reason,
          action: "set",
        });
        return { label, version: version.version, previousVersion: from };
      }, TX_OPTIONS);
    },

    async remove(p: Principal, name: string, label: string, reason?: string): Promise<void> {
      if (label === LATEST_LABEL)
        throw labelError(label, "is kept on the highest version automatically", "params.label");
      requireLabelRole(p, label);
      const prompt = await findPrompt(db, p.projectId, name);
      await bus.write(async (w) => {
        const { tx, record } = w;
        await lockPrompt(tx, prompt.id);
        const current = await tx.label.findUnique({
          where: { promptId_name: { promptId: prompt.id, name: label } },
          include: { version: { select: { version: true } } },
        });
        if (!current) throw notFound(`label '${label}' of prompt '${name}'`);
        await endRolloutOnMove(
          w,
          { promptId: prompt.id, projectId: p.projectId, name, label, actor: p.keyName },
          current.version.version,
          `label deleted by ${p.keyName}${reason ? `: ${reason}` : ""}`,
        );
        await tx.label.delete({ where: { id: current.id } });
        await tx.labelEvent.create({
          data: {
            promptId: prompt.id,
            label,
            action: "delete",
            fromVersion: current.version.version,
            toVersion: null,
            actor: p.keyName,
            reason: reason ?? null,
          },
        });
        record({
          kind: "label.moved",
          projectId: p.projectId,
          name,
          label,
          action: "delete",
          fromVersion: current.version.version,
          toVersion: null,
        });
      }, TX_OPTIONS);
    },

    /**
     * Back to what the label held before its last move (or to `to`). The rollback is itself a ledger entry, so a
     * second rollback undoes the first.
     */
    async rollback(p: Principal, name: string, label: string, input: { reason?: string; to?: string }) {
      checkSettableLabel(label);
      const to = input.to === undefined ? undefined : exactVersion(label, input.to, "body.to");
      requireLabelRole(p, label);
      const prompt = await findPrompt(db, p.projectId, name);
      return bus.write(async (w) => {
        await lockPrompt(w.tx, prompt.id);
        let target = to;
        if (target === undefined) {
          const move = await lastLabelMove(w.tx, prompt.id, label);
          if (!move) throw notFound(`history of label '${label}' on prompt '${name}'`);
          const previous = move.fromVersion;
          if (previous === null)
            throw new AppError(
              "conflict",
              `label '${label}' held no version before its last move: nothing to roll back to`,
            );
          target = previous;
        }
        const version = await findVersion(w.tx, prompt.id, name, target);
        // Back to a version the label held is never gated; `to` a version it never held is a move like any other.
        const heldBefore = await w.tx.labelEvent.findFirst({
          where: { promptId: prompt.id, label, toVersion: version.version },
          select: { id: true },
        });
        const gate = heldBefore
          ? null
          : await throughGate(w.tx, p, { id: prompt.id, name }, label, version.version, {});
        const { from } = await setLabelInTx(w, {
          promptId: prompt.id,
          projectId: p.projectId,
          name,
          label,
          version,
          actor: p.keyName,
          reason: input.reason,
          action: "rollback",
          gate,
        });
        return { label, version: version.version, previousVersion: from };
      }, TX_OPTIONS);
    },

    async history(p: Principal, name: string, label: string, page: { limit: number; cursor?: string }) {
      const prompt = await findPrompt(db, p.projectId, name);
      const before = page.cursor
        ? decodeCursor(page.cursor, (id) => (/^\d{1,18}$/.test(id) ? BigInt(id) : null))
        : undefined;
      const rows = await db.labelEvent.findMany({
        where: { promptId: prompt.id, label, ...(before ? { id: { lt: before } } : {}) },
        orderBy: { id: "desc" },
        take: page.limit + 1,
      });
      const more = rows.length > page.limit;
      const data = rows.slice(0, page.limit).map(labelEventView);
      return { data, nextCursor: more ? encodeCursor(rows[page.limit - 1]!.id.toString()) : null };
    },
  };
}
