// What other modules ask of the rollouts table: the one write that is not the rollouts service's own (a move of the
// label ends its rollout, which labels.service makes) and resolve's read of a label's rollout. Kept apart from the
// service, so that labels.service and resolve can use them without importing the service, which imports them.
import type { PromptType, RolloutAssignment } from "@promptreg/client/contract";
import type { Tx } from "../db/client.js";
import type { ReadDb } from "../db/writes.js";
import { versionView } from "../prompts/views.js";

/** States in which a rollout holds its label: at most one per label, checked under the prompt's row lock. */
export const ACTIVE_STATES = ["running", "paused"];

/**
 * Inside a transaction holding the prompt's lock: aborts the label's running or paused rollout, if any. Returns it
 * (its id and step) so that the caller records the ledger entry, or undefined when there was none.
 */
export async function endActiveRolloutInTx(
  tx: Tx,
  promptId: string,
  label: string,
  at: Date,
): Promise<{ id: string; step: number } | undefined> {
  const active = await tx.rollout.findFirst({
    where: { promptId, label, state: { in: ACTIVE_STATES } },
    select: { id: true, step: true },
  });
  if (!active) return undefined;
  await tx.rollout.update({ where: { id: active.id }, data: { state: "aborted", endedAt: at } });
  return active;
}

/** A rollout's steps as stored (the request's, with the optional minimums made 0). */
export interface StoredStep {
  share: number;
  minDurationMs: number;
  minUnits: number;
}

/**
 * The label's running or paused rollout as resolve answers it, with the candidate's version view, or undefined. The
 * baseline is the version the label holds (any move of the label ends its rollout), so it is not read again.
 */
export async function activeRolloutOf(
  db: ReadDb,
  prompt: { id: string; name: string; type: PromptType },
  label: string,
  baselineVersion: string,
): Promise<RolloutAssignment | undefined> {
  const row = await db.rollout.findFirst({
    where: { promptId: prompt.id, label, state: { in: ACTIVE_STATES } },
    include: { candidate: true },
  });
  if (!row) return undefined;
  const steps = row.steps as unknown as StoredStep[];
  return {
    id: row.id,
    state: row.state as "running" | "paused",
    step: row.step,
    share: steps[row.step - 1]!.share,
    baselineVersion,
    candidateVersion: row.candidate.version,
    candidate: versionView(prompt, row.candidate, label),
  };
}
