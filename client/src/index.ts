// The public surface of @promptreg/client. Wire schemas and the renderer are reached through the `./contract` and
// `./render` subpaths.
export { createClient } from "./client.js";
export type { ClientOptions, Fallback, GetOptions, PreloadOptions, PreloadResult, RegistryClient } from "./client.js";
export type { PromptRef, RefSelector } from "./cache.js";
export type { ChatMessage, ChatRole, Template, VariableSpec } from "./contract.js";
export { RegistryError } from "./errors.js";
export type {
  EvaluatorVerdict,
  ExperimentEvaluator,
  ExperimentSummary,
  ExperimentTask,
  ExperimentTaskContext,
  RunExperimentOptions,
  TaskOutput,
} from "./experiment.js";
export type { ChatPrompt, Prompt, TagOptions, TextPrompt, TraceOptions } from "./prompt.js";
export { RenderError } from "./render.js";
export type { RenderErrorCode, RenderErrorDetails, RenderOptions } from "./render.js";
export { pullSnapshot } from "./snapshot.js";
export type { PullSnapshotOptions, Snapshot, SnapshotEntry } from "./snapshot.js";
export {
  ATTR_PROMPTREG_DATASET_ITEM,
  ATTR_PROMPTREG_EXPERIMENT_ID,
  ATTR_PROMPTREG_EXPERIMENT_RUN,
  ATTR_PROMPTREG_ROLLOUT_ARM,
  ATTR_PROMPTREG_ROLLOUT_ID,
  ATTR_PROMPTREG_ROLLOUT_STEP,
  createPromptSpanProcessor,
  promptSpanAttributes,
  tagSpan,
  withCallAttributes,
  withPrompt,
} from "./tracing.js";
export { PROMPT_VENDOR } from "./types.js";
export type { PromptLink, PromptSource, RolloutLink } from "./types.js";
