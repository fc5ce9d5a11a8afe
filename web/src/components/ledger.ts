// How the console says each action of a label's ledger (the Labels page's ledger, the markers of the time series).
import type { LabelEvent } from "@promptreg/client/contract";

export const LEDGER_ACTION_TEXT: Record<LabelEvent["action"], string> = {
  set: "moved",
  rollback: "rolled back",
  delete: "deleted",
  rollout_started: "rollout started",
  rollout_paused: "rollout paused",
  rollout_resumed: "rollout resumed",
  rollout_advanced: "rollout advanced",
  rollout_aborted: "rollout aborted",
  rollout_finished: "rollout finished",
};
