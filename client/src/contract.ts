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

export const LabelNameSchema = z.string().regex(LABEL_NAME_PATTERN, "must match ^[a-z0-9][a-z0-9_.-]{0,35}$");

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
export const ChatRoleSchema = z.string().refine(isChatRole, {
  error: (issue) => `must be one of ${CHAT_ROLES.join(", ")}, got ${JSON.stringify(issue.input)}`,
});

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

export const VariableTypeSchema = z.enum([
  "string",
  "number",
  "integer",
  "boolean",
  "array",
  "object",
  "null",
  "messages",
]);
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

/**
 * Variables one render may be given. A template has at most 600 nodes, so it reads far fewer; checked before the
 * variables are validated, since that work grows with their number.
 */
export const MAX_RENDER_VARIABLES = 1_000;

export const RenderBodySchema = z.strictObject({
  ref: z.string().min(1).max(128).optional(),
  variables: z
    .unknown()
    .check((ctx) => {
      const v = ctx.value;
      if (typeof v !== "object" || v === null || Array.isArray(v)) return;
      let n = 0;
      for (const key in v) if (Object.hasOwn(v, key) && ++n > MAX_RENDER_VARIABLES) break;
      if (n > MAX_RENDER_VARIABLES)
        ctx.issues.push({
          code: "custom",
          message: `at most ${MAX_RENDER_VARIABLES} variables may be given`,
          input: v,
          continue: false,
        });
    })
    .pipe(JsonObjectSchema)
    .default({}),
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

export const ProjectNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "must match ^[a-z0-9][a-z0-9_-]{0,62}$");
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

// ---- listings, labels, keys and the console session ----
// Responses the web console reads (it parses every answer with these), so the console and the API cannot drift.

const page = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), nextCursor: z.string().nullable() });

export const SignInBodySchema = z.strictObject({ key: z.string().min(1).max(512) });
export type SignInBody = z.infer<typeof SignInBodySchema>;

/** Who a console session acts as, and the token its writes must echo in `X-CSRF-Token`. */
export const SessionSchema = z.object({
  keyName: z.string(),
  role: RoleSchema,
  projectName: z.string(),
  protectedLabels: z.array(z.string()),
  csrfToken: z.string(),
  expiresAt: z.string(),
});
export type Session = z.infer<typeof SessionSchema>;

const PromptMetaShape = {
  id: z.string(),
  name: z.string(),
  type: PromptTypeSchema,
  description: z.string(),
  tags: z.array(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
};

export const PromptListItemSchema = z.object({
  ...PromptMetaShape,
  versionCount: z.number().int(),
  /** Label name -> the version it holds. */
  labels: z.record(z.string(), z.string()),
});
export const PromptListSchema = page(PromptListItemSchema);
export type PromptListItem = z.infer<typeof PromptListItemSchema>;

export const FolderListSchema = z.object({ data: z.array(z.object({ name: z.string(), prompts: z.number().int() })) });

export const LabelViewSchema = z.object({
  name: z.string(),
  version: z.string(),
  updatedAt: z.string(),
  updatedBy: z.string(),
  protected: z.boolean(),
});
export type LabelView = z.infer<typeof LabelViewSchema>;
export const LabelListSchema = z.object({ data: z.array(LabelViewSchema) });

export const PromptDetailSchema = z.object({
  ...PromptMetaShape,
  labels: z.array(LabelViewSchema),
  versions: z.object({
    count: z.number().int(),
    latest: z.string().nullable(),
    recent: z.array(
      z.object({ version: z.string(), commitMessage: z.string(), author: z.string(), createdAt: z.string() }),
    ),
  }),
});
export type PromptDetail = z.infer<typeof PromptDetailSchema>;

export const VersionListSchema = page(PromptVersionSchema);

export const LabelEventSchema = z.object({
  id: z.string(),
  label: z.string(),
  action: z.enum(["set", "delete", "rollback"]),
  fromVersion: z.string().nullable(),
  toVersion: z.string().nullable(),
  actor: z.string(),
  reason: z.string().nullable(),
  createdAt: z.string(),
});
export type LabelEvent = z.infer<typeof LabelEventSchema>;
export const LabelHistorySchema = page(LabelEventSchema);

export const LabelMoveResultSchema = z.object({
  label: z.string(),
  version: z.string(),
  previousVersion: z.string().nullable(),
});

export const RequiredBumpSchema = z.object({ bump: BumpSchema, reasons: z.array(z.string()) });
export type RequiredBump = z.infer<typeof RequiredBumpSchema>;

/** `POST …/versions?dryRun=true`: what the publish would answer, and why that version; nothing is written. */
export const PublishPreviewSchema = z.object({
  dryRun: z.literal(true),
  /** False when the content equals the highest version's: a publish would create nothing. */
  created: z.boolean(),
  version: PromptVersionSchema,
  previousVersion: z.string().nullable(),
  requiredBump: RequiredBumpSchema.nullable(),
});
export type PublishPreview = z.infer<typeof PublishPreviewSchema>;

/** `details` of an `invalid_template` error: where in the template (1-based), and which chat message. */
export const TemplateErrorDetailsSchema = z.object({
  line: z.number().int(),
  column: z.number().int().optional(),
  messageIndex: z.number().int().optional(),
});
export type TemplateErrorDetails = z.infer<typeof TemplateErrorDetailsSchema>;

const ValueChangeSchema = z.object({
  path: z.string(),
  change: z.enum(["added", "removed", "changed"]),
  from: z.unknown().optional(),
  to: z.unknown().optional(),
});
const DiffSideSchema = z.object({ version: z.string(), contentHash: z.string(), label: z.string().optional() });

export const VersionDiffSchema = z.object({
  name: z.string(),
  from: DiffSideSchema,
  to: DiffSideSchema,
  identical: z.boolean(),
  template: z.object({ changed: z.boolean(), unified: z.string() }),
  config: z.array(ValueChangeSchema),
  variablesSchema: z.array(ValueChangeSchema),
  variables: z.object({
    added: z.array(VariableSpecSchema),
    removed: z.array(VariableSpecSchema),
    changed: z.array(z.object({ name: z.string(), from: VariableSpecSchema, to: VariableSpecSchema })),
  }),
  requiredBump: RequiredBumpSchema.nullable(),
});
export type VersionDiff = z.infer<typeof VersionDiffSchema>;

export const RenderResponseSchema = z.object({
  text: z.string().optional(),
  messages: z.array(ChatMessageSchema).optional(),
  prompt: z.object({
    promptId: z.string(),
    name: z.string(),
    type: PromptTypeSchema,
    version: z.string(),
    contentHash: z.string(),
    label: z.string().optional(),
  }),
});
export type RenderResponse = z.infer<typeof RenderResponseSchema>;

export const KeyViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  role: RoleSchema,
  prefix: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
});
export type KeyView = z.infer<typeof KeyViewSchema>;
export const KeyListSchema = z.object({ data: z.array(KeyViewSchema) });
/** The secret is in this answer only. */
export const CreatedKeySchema = KeyViewSchema.extend({ key: z.string() });

export const ProjectViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  protectedLabels: z.array(z.string()),
  createdAt: z.string(),
});
export type ProjectView = z.infer<typeof ProjectViewSchema>;
export const ProjectListSchema = z.object({ data: z.array(ProjectViewSchema) });
export const CreatedProjectSchema = z.object({ project: ProjectViewSchema, adminKey: CreatedKeySchema });
