// Wire schemas shared by the server and the client. The server validates every request with these and the client
// parses responses with them, so the two cannot drift. Direction of imports: server -> contract, never back.
import { z } from "zod";

/** `^[a-z0-9][a-z0-9_.-]{0,35}$`: lowercase, at most 36 characters. */
export const LABEL_NAME_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,35}$/;
export const PRODUCTION_LABEL = "production";
export const LATEST_LABEL = "latest";

/** Folder segments joined by `/`, e.g. `support/triage`. */
export const PROMPT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*(\/[A-Za-z0-9][A-Za-z0-9_.-]*)*$/;
export const PromptNameSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(PROMPT_NAME_PATTERN, "folder segments of letters, digits, '.', '_' or '-' separated by '/'");

export const LabelNameSchema = z
  .string()
  .regex(LABEL_NAME_PATTERN, "must match ^[a-z0-9][a-z0-9_.-]{0,35}$");

export const RoleSchema = z.enum(["read", "write", "admin"]);
export type Role = z.infer<typeof RoleSchema>;

export const PromptTypeSchema = z.enum(["text", "chat"]);
export type PromptType = z.infer<typeof PromptTypeSchema>;

/** A variable name as Handlebars sees a top-level identifier. */
export const VariableNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an identifier");

/**
 * The roles a chat template's message may have: those that chat APIs (OpenAI's `ChatCompletionMessageParam` among
 * them) take with plain text content and nothing else. `tool` is not one: such a message needs the id of the call it
 * answers, which a template cannot know.
 */
export const CHAT_ROLES = ["system", "developer", "user", "assistant"] as const;
export type ChatRole = (typeof CHAT_ROLES)[number];

export function isChatRole(value: unknown): value is ChatRole {
  return (CHAT_ROLES as readonly unknown[]).includes(value);
}

// A refinement, not z.enum: inside the template's unions an enum failure is reported as "Invalid input" at `template`,
// while a failed refinement lets zod pick the branch and report the issue where it is (`template.2.role`).
export const ChatRoleSchema = z
  .string()
  .refine(isChatRole, { error: (issue) => `must be one of ${CHAT_ROLES.join(", ")}, got ${JSON.stringify(issue.input)}` });

export const ChatMessageSchema = z.object({
  role: ChatRoleSchema,
  content: z.string().max(1_000_000),
});
export type ChatMessage = z.infer<typeof ChatMessageSchema>;

/** A slot filled at render time with a list of messages (e.g. the conversation so far). */
export const PlaceholderSchema = z.object({ type: z.literal("placeholder"), name: VariableNameSchema });
export type Placeholder = z.infer<typeof PlaceholderSchema>;

export const ChatTemplateItemSchema = z.union([PlaceholderSchema, ChatMessageSchema.strict()]);
export type ChatTemplateItem = z.infer<typeof ChatTemplateItemSchema>;

export const ChatTemplateSchema = z.array(ChatTemplateItemSchema).min(1).max(500);
export const TemplateSchema = z.union([z.string().max(1_000_000), ChatTemplateSchema]);
export type Template = z.infer<typeof TemplateSchema>;

export const JsonObjectSchema = z.record(z.string(), z.unknown());

export const VariableTypeSchema = z.enum(["string", "number", "integer", "boolean", "array", "object", "null", "messages"]);
export type VariableType = z.infer<typeof VariableTypeSchema>;

/** One variable of a version's contract: derived from the template, typed by the JSON Schema when one is given. */
export const VariableSpecSchema = z.object({
  name: z.string(),
  required: z.boolean(),
  type: VariableTypeSchema.nullable(),
  /** Paths below the variable that must be present whenever it is given (`user.plan`); absent when there are none. */
  paths: z.array(z.string()).optional(),
});
export type VariableSpec = z.infer<typeof VariableSpecSchema>;

export const BumpSchema = z.enum(["major", "minor", "patch"]);
export type Bump = z.infer<typeof BumpSchema>;

// ---- requests ----

export const CreatePromptBodySchema = z.strictObject({
  name: PromptNameSchema,
  type: PromptTypeSchema,
  description: z.string().max(10_000).optional(),
  tags: z.array(z.string().min(1).max(64)).max(50).optional(),
});
export type CreatePromptBody = z.infer<typeof CreatePromptBodySchema>;

export const PublishVersionBodySchema = z.strictObject({
  template: TemplateSchema,
  config: JsonObjectSchema.optional(),
  variablesSchema: JsonObjectSchema.optional(),
  commitMessage: z.string().max(5_000).optional(),
  bump: BumpSchema.optional(),
  version: z.string().max(64).optional(),
  labels: z.array(LabelNameSchema).max(20).optional(),
  description: z.string().max(10_000).optional(),
  tags: z.array(z.string().min(1).max(64)).max(50).optional(),
});
export type PublishVersionBody = z.infer<typeof PublishVersionBodySchema>;

export const RenderBodySchema = z.strictObject({
  ref: z.string().min(1).max(128).optional(),
  variables: JsonObjectSchema.default({}),
  strictExtras: z.boolean().optional(),
});
export type RenderBody = z.infer<typeof RenderBodySchema>;

export const MoveLabelBodySchema = z.strictObject({
  version: z.string().min(1).max(64),
  reason: z.string().max(2_000).optional(),
});
export type MoveLabelBody = z.infer<typeof MoveLabelBodySchema>;

export const RollbackBodySchema = z.strictObject({
  reason: z.string().max(2_000).optional(),
  to: z.string().min(1).max(64).optional(),
});
export type RollbackBody = z.infer<typeof RollbackBodySchema>;

export const CreateKeyBodySchema = z.strictObject({ name: z.string().min(1).max(100), role: RoleSchema });
export type CreateKeyBody = z.infer<typeof CreateKeyBodySchema>;

export const ProjectNameSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "must match ^[a-z0-9][a-z0-9_-]{0,62}$");
export const CreateProjectBodySchema = z.strictObject({ name: ProjectNameSchema });

// ---- responses ----

export const PromptVersionSchema = z.object({
  id: z.string(),
  promptId: z.string(),
  name: z.string(),
  type: PromptTypeSchema,
  version: z.string(),
  template: TemplateSchema,
  config: JsonObjectSchema,
  variables: z.array(VariableSpecSchema),
  variablesSchema: JsonObjectSchema.nullable(),
  commitMessage: z.string(),
  author: z.string(),
  contentHash: z.string(),
  createdAt: z.string(),
  /** The label the version was resolved through, when it was. */
  label: z.string().optional(),
});
export type PromptVersion = z.infer<typeof PromptVersionSchema>;

export const ErrorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.unknown().optional(),
    requestId: z.string().optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;
