// Types shared by the client's modules (fetching, caching, rendering, tracing).
import type { PROMPT_SOURCES, RolloutArm, Template } from "./contract.js";

/**
 * Where a prompt object came from: `network` (fetched for this call); `cache` (from memory while the registry answers:
 * fresh, or past its TTL while a background refresh runs); `stale` (from memory only because the registry failed, or
 * refused the refresh); `snapshot` (the snapshot file); `fallback` (the inline fallback given to `get`).
 */
export type PromptSource = (typeof PROMPT_SOURCES)[number];

/** `prompt.vendor` on linked spans. */
export const PROMPT_VENDOR = "promptreg";

/** What a span is linked to: enough to join it to a stored version on the server. */
export interface PromptLink {
  /** The prompt's name (`prompt.id`). */
  name: string;
  /** The semver string (`llm.prompt_template.version`); for a fallback without a version, "fallback". */
  version: string;
  template: Template;
  /** The variables the prompt was rendered with (`llm.prompt_template.variables`, as JSON). */
  variables?: Record<string, unknown>;
  /** The label it was resolved through (`promptreg.prompt.label`). */
  label?: string;
  source: PromptSource;
  /** The version's URL on the server (`prompt.url`). */
  url?: string;
  /** `session.id` / `user.id`, passed through. */
  sessionId?: string;
  userId?: string;
  /** The guarded rollout the call is in (`promptreg.rollout.id`, `.arm`, `.step`). */
  rollout?: RolloutLink;
}

/** A call's place in a guarded rollout: the rollout, the arm its key fell in, and the step (from 1). */
export interface RolloutLink {
  id: string;
  arm: RolloutArm;
  step: number;
}
