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
export const VariableSpecSchema = z
  .object({
    name: z.string(),
    required: z.boolean(),
    type: VariableTypeSchema.nullable(),
    /** Paths below the variable that must be present whenever it is given (`user.plan`); absent when there are none. */
    paths: z.array(z.string()).optional(),
  })
  .meta({ id: "VariableSpec" });
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

/**
 * An admin's move past a label's gate: `override: true` with a `reason` (required then), recorded in the ledger with
 * what the gate found.
 */
const GateOverrideShape = {
  override: z.boolean().optional(),
  reason: z.string().max(2_000).optional(),
};

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
  /** Moving `labels` past their gates (admin only); `reason` goes to the ledger. */
  ...GateOverrideShape,
});
export type PublishVersionBody = z.infer<typeof PublishVersionBodySchema>;

/**
 * Variables one render may be given. A template has at most 600 nodes, so it reads far fewer; checked before the
 * variables are validated, since that work grows with their number.
 */
export const MAX_RENDER_VARIABLES = 1_000;

/**
 * Who a call is for, in a guarded rollout's split: the same key always gets the same arm (see rollout.ts). The client
 * sends its `assignmentKey`, else its `userId` or `sessionId`.
 */
export const AssignmentKeySchema = z.string().min(1).max(256);

export const RenderBodySchema = z.strictObject({
  ref: z.string().min(1).max(128).optional(),
  /** When the label is under a rollout: the assignment key that picks the arm rendered. */
  key: AssignmentKeySchema.optional(),
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

/**
 * A version rendered and sent to a model connection, its answer streamed back (POST /prompts/:name/playground). The
 * sampling parameters are OpenAI's; given ones replace the version's config's.
 */
export const PlaygroundBodySchema = RenderBodySchema.omit({ key: true }).extend({
  connection: z.string().min(1).max(64),
  /** Instead of the version's config's model, or else the connection's. */
  model: z.string().min(1).max(256).optional(),
  params: z
    .strictObject({
      temperature: z.number().min(0).max(2),
      top_p: z.number().min(0).max(1),
      max_tokens: z.int().min(1).max(32_768),
      presence_penalty: z.number().min(-2).max(2),
      frequency_penalty: z.number().min(-2).max(2),
      seed: z.int(),
      stop: z.union([z.string().max(256), z.array(z.string().max(256)).max(4)]),
    })
    .partial()
    .optional(),
});
export type PlaygroundBody = z.infer<typeof PlaygroundBodySchema>;

/** One line of the playground's answer (NDJSON): `start`, then `delta`s, then `done` or `error`. */
export const PlaygroundEventSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("start"),
    prompt: z.object({ name: z.string(), version: z.string() }),
    connection: z.string(),
    model: z.string(),
    traceId: z.string(),
    spanId: z.string(),
  }),
  z.object({ type: z.literal("delta"), text: z.string() }),
  z.object({
    type: z.literal("done"),
    output: z.string(),
    model: z.string().nullable(),
    latencyMs: z.number(),
    /** From sending to the first text. */
    firstTokenMs: z.number().nullable(),
    usage: z.object({ promptTokens: z.int().nullable(), completionTokens: z.int().nullable() }),
    traceId: z.string(),
    spanId: z.string(),
  }),
  z.object({ type: z.literal("error"), message: z.string(), traceId: z.string(), spanId: z.string() }),
]);
export type PlaygroundEvent = z.infer<typeof PlaygroundEventSchema>;

export const MoveLabelBodySchema = z.strictObject({
  version: z.string().min(1).max(64),
  ...GateOverrideShape,
});
export type MoveLabelBody = z.infer<typeof MoveLabelBodySchema>;

export const RollbackBodySchema = z.strictObject({
  reason: z.string().max(2_000).optional(),
  to: z.string().min(1).max(64).optional(),
});
export type RollbackBody = z.infer<typeof RollbackBodySchema>;

/** Longest a rollout step may be held to: 30 days. */
export const MAX_ROLLOUT_STEP_MS = 30 * 24 * 3600 * 1000;

export const RolloutStepSchema = z.strictObject({
  /** The candidate's share of the assignment keys, in (0, 1]. */
  share: z.number().gt(0).max(1),
  /** The step lasts at least this long before the guard may advance it. */
  minDurationMs: z.int().min(0).max(MAX_ROLLOUT_STEP_MS).optional(),
  /** The candidate arm's judged units during the step before the guard may advance it. */
  minUnits: z.int().min(0).max(100_000_000).optional(),
});
export type RolloutStep = z.infer<typeof RolloutStepSchema>;

export const RolloutGuardSchema = z.strictObject({
  /** As compare's `failure`: status, annotation:<name>, any or any:<name>; with `threshold` and `revision` as there. */
  failure: z.string().min(1).max(200).default("status"),
  threshold: z.number().finite().optional(),
  revision: z.int().min(1).max(1_000_000).optional(),
  /** The guard's false-alarm rate over the whole rollout, however often it looks. */
  alpha: z.number().min(0.001).max(0.2).default(0.05),
  /** Judged units each arm needs before the guard judges (or advances) at all. */
  minSample: z.int().min(1).max(10_000_000).default(100),
  /** Harm: the candidate's p95 latency exceeds the baseline's by more than this. */
  maxP95IncreaseMs: z.number().min(0).max(3_600_000).optional(),
  /** Harm: the candidate's mean cost per span (USD) exceeds the baseline's by more than this. */
  maxMeanCostIncrease: z.number().min(0).max(1_000).optional(),
});
export type RolloutGuard = z.infer<typeof RolloutGuardSchema>;

export const StartRolloutBodySchema = z.strictObject({
  /** The version the rollout sends traffic to; the label keeps its version as the baseline. */
  candidate: z.string().min(1).max(64),
  steps: z
    .array(RolloutStepSchema)
    .min(1)
    .max(20)
    .refine((steps) => steps.every((s, i) => i === 0 || s.share > steps[i - 1]!.share), "shares must increase"),
  guard: RolloutGuardSchema.prefault({}),
  /** On harm: abort (true) or pause (false), with the verdict as the reason. */
  autoRollback: z.boolean().default(true),
  reason: z.string().max(2_000).optional(),
});
export type StartRolloutBody = z.input<typeof StartRolloutBodySchema>;

/** pause, resume, advance and abort. */
export const RolloutActionBodySchema = z.strictObject({ reason: z.string().max(2_000).optional() });

export const CreateKeyBodySchema = z.strictObject({ name: z.string().min(1).max(100), role: RoleSchema });
export type CreateKeyBody = z.infer<typeof CreateKeyBodySchema>;

export const ProjectNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "must match ^[a-z0-9][a-z0-9_-]{0,62}$");
export const CreateProjectBodySchema = z.strictObject({ name: ProjectNameSchema });

// ---- responses ----

/** The fields of a version (without the rollout a label may be under). */
const PromptVersionFields = z.object({
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

export const ROLLOUT_ARMS = ["baseline", "candidate"] as const;
export const RolloutArmSchema = z.enum(ROLLOUT_ARMS);
export type RolloutArm = z.infer<typeof RolloutArmSchema>;
export const RolloutStateSchema = z.enum(["running", "paused", "aborted", "finished"]);
export type RolloutState = z.infer<typeof RolloutStateSchema>;

/**
 * The rollout a label resolved is under (running or paused). Without an assignment key it carries the candidate, so
 * that a client picks the arm of each call itself (rollout.ts); with `key` the answer is the key's arm's version
 * and `arm` says which.
 */
export const RolloutAssignmentSchema = z
  .object({
    id: z.string(),
    state: z.enum(["running", "paused"]),
    /** The current step, from 1. */
    step: z.int(),
    /** The candidate's share of the keys at this step. */
    share: z.number(),
    baselineVersion: z.string(),
    candidateVersion: z.string(),
    candidate: PromptVersionFields.optional(),
    arm: RolloutArmSchema.optional(),
  })
  .meta({ id: "RolloutAssignment" });
export type RolloutAssignment = z.infer<typeof RolloutAssignmentSchema>;

export const PromptVersionSchema = PromptVersionFields.extend({
  rollout: RolloutAssignmentSchema.optional(),
}).meta({ id: "PromptVersion" });
export type PromptVersion = z.infer<typeof PromptVersionSchema>;

export const ErrorBodySchema = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z.unknown().optional(),
      requestId: z.string().optional(),
    }),
  })
  .meta({ id: "ErrorBody" });
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

// ---- listings, labels, keys and the console session ----
// Responses the web console reads (it parses every answer with these), so the console and the API cannot drift.

const page = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), nextCursor: z.string().nullable() });

export const SignInBodySchema = z.strictObject({ key: z.string().min(1).max(512) });
export type SignInBody = z.infer<typeof SignInBodySchema>;

/** Who a console session acts as, and the token its writes must echo in `X-CSRF-Token`. */
export const SessionSchema = z
  .object({
    keyName: z.string(),
    role: RoleSchema,
    projectName: z.string(),
    protectedLabels: z.array(z.string()),
    csrfToken: z.string(),
    expiresAt: z.string(),
  })
  .meta({ id: "Session" });
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

export const PromptListItemSchema = z
  .object({
    ...PromptMetaShape,
    versionCount: z.number().int(),
    /** Label name -> the version it holds. */
    labels: z.record(z.string(), z.string()),
  })
  .meta({ id: "PromptListItem" });
export const PromptListSchema = page(PromptListItemSchema).meta({ id: "PromptList" });
export type PromptListItem = z.infer<typeof PromptListItemSchema>;

export const FolderListSchema = z
  .object({ data: z.array(z.object({ name: z.string(), prompts: z.number().int() })) })
  .meta({ id: "FolderList" });

export const LabelViewSchema = z
  .object({
    name: z.string(),
    version: z.string(),
    updatedAt: z.string(),
    updatedBy: z.string(),
    protected: z.boolean(),
  })
  .meta({ id: "LabelView" });
export type LabelView = z.infer<typeof LabelViewSchema>;
export const LabelListSchema = z.object({ data: z.array(LabelViewSchema) }).meta({ id: "LabelList" });

export const PromptDetailSchema = z
  .object({
    ...PromptMetaShape,
    labels: z.array(LabelViewSchema),
    versions: z.object({
      count: z.number().int(),
      latest: z.string().nullable(),
      recent: z.array(
        z.object({ version: z.string(), commitMessage: z.string(), author: z.string(), createdAt: z.string() }),
      ),
    }),
  })
  .meta({ id: "PromptDetail" });
export type PromptDetail = z.infer<typeof PromptDetailSchema>;

export const VersionListSchema = page(PromptVersionSchema).meta({ id: "VersionList" });

/** A rollout's state changes: ledger entries of its label (a finish is also the label's move to the candidate). */
export const ROLLOUT_ACTIONS = [
  "rollout_started",
  "rollout_advanced",
  "rollout_paused",
  "rollout_resumed",
  "rollout_aborted",
  "rollout_finished",
] as const;
export const LABEL_ACTIONS = ["set", "delete", "rollback", ...ROLLOUT_ACTIONS] as const;

export const LabelEventSchema = z
  .object({
    id: z.string(),
    label: z.string(),
    /** A move (set, rollback, delete, and the move that finishes a rollout) or a rollout's state change. */
    action: z.enum(LABEL_ACTIONS),
    fromVersion: z.string().nullable(),
    toVersion: z.string().nullable(),
    actor: z.string(),
    reason: z.string().nullable(),
    /** The label's gate on this move: passed (with the experiment that showed it) or overridden by an admin. */
    gate: z
      .object({
        outcome: z.enum(["passed", "overridden"]),
        experiment: z.string().nullable(),
        detail: z.string(),
      })
      .nullable(),
    createdAt: z.string(),
  })
  .meta({ id: "LabelEvent" });
export type LabelEvent = z.infer<typeof LabelEventSchema>;
export const LabelHistorySchema = page(LabelEventSchema).meta({ id: "LabelHistory" });

export const LabelMoveResultSchema = z
  .object({
    label: z.string(),
    version: z.string(),
    previousVersion: z.string().nullable(),
  })
  .meta({ id: "LabelMoveResult" });

/**
 * One event of the live-update stream (`GET /api/v1/events`, server-sent events): its SSE `event` field is `type`,
 * its `data` this object as JSON, its `id` what `Last-Event-ID` resumes from. `reset` says that events may have been
 * missed (a resume past the replay window, or from another instance; an instance's notifications lost): refresh
 * everything held. A reader must ignore types it does not know, as later servers add some.
 */
export const LiveEventSchema = z
  .discriminatedUnion("type", [
    z.object({ type: z.literal("version.published"), prompt: z.string(), version: z.string() }),
    ...(["label.moved", "label.rolled_back", "label.deleted"] as const).map((type) =>
      z.object({
        type: z.literal(type),
        prompt: z.string(),
        label: z.string(),
        fromVersion: z.string().nullable(),
        /** Null when the label was deleted. */
        toVersion: z.string().nullable(),
      }),
    ),
    z.object({ type: z.literal("prompt.deleted"), prompt: z.string() }),
    // A guarded rollout of the label changed state: the arms' split a client computes changed with it.
    ...(
      [
        "rollout.started",
        "rollout.advanced",
        "rollout.paused",
        "rollout.resumed",
        "rollout.aborted",
        "rollout.finished",
      ] as const
    ).map((type) =>
      z.object({
        type: z.literal(type),
        prompt: z.string(),
        label: z.string(),
        rolloutId: z.string(),
        step: z.number().int(),
        /** The candidate's share now: 0 once aborted, 1 once finished. */
        share: z.number(),
      }),
    ),
    z.object({ type: z.literal("reset"), reason: z.string() }),
  ])
  .meta({ id: "LiveEvent" });
export type LiveEvent = z.infer<typeof LiveEventSchema>;

export const RequiredBumpSchema = z
  .object({ bump: BumpSchema, reasons: z.array(z.string()) })
  .meta({ id: "RequiredBump" });
export type RequiredBump = z.infer<typeof RequiredBumpSchema>;

/** `POST …/versions?dryRun=true`: what the publish would answer, and why that version; nothing is written. */
export const PublishPreviewSchema = z
  .object({
    dryRun: z.literal(true),
    /** False when the content equals the highest version's: a publish would create nothing. */
    created: z.boolean(),
    version: PromptVersionSchema,
    previousVersion: z.string().nullable(),
    requiredBump: RequiredBumpSchema.nullable(),
  })
  .meta({ id: "PublishPreview" });
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

export const VersionDiffSchema = z
  .object({
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
  })
  .meta({ id: "VersionDiff" });
export type VersionDiff = z.infer<typeof VersionDiffSchema>;

export const RenderResponseSchema = z
  .object({
    text: z.string().optional(),
    messages: z.array(ChatMessageSchema).optional(),
    prompt: z.object({
      promptId: z.string(),
      name: z.string(),
      type: PromptTypeSchema,
      version: z.string(),
      contentHash: z.string(),
      label: z.string().optional(),
      /** The rollout the label is under, and the key's arm (rendered). */
      rollout: z.object({ id: z.string(), arm: RolloutArmSchema, step: z.int() }).optional(),
    }),
  })
  .meta({ id: "RenderResponse" });
export type RenderResponse = z.infer<typeof RenderResponseSchema>;

export const KeyViewSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    role: RoleSchema,
    prefix: z.string(),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable(),
  })
  .meta({ id: "KeyView" });
export type KeyView = z.infer<typeof KeyViewSchema>;
export const KeyListSchema = z.object({ data: z.array(KeyViewSchema) }).meta({ id: "KeyList" });
/** The secret is in this answer only. */
export const CreatedKeySchema = KeyViewSchema.extend({ key: z.string() }).meta({ id: "CreatedKey" });
export type CreatedKey = z.infer<typeof CreatedKeySchema>;

export const ProjectViewSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    protectedLabels: z.array(z.string()),
    createdAt: z.string(),
  })
  .meta({ id: "ProjectView" });
export type ProjectView = z.infer<typeof ProjectViewSchema>;
export const ProjectListSchema = z.object({ data: z.array(ProjectViewSchema) }).meta({ id: "ProjectList" });
export const CreatedProjectSchema = z
  .object({ project: ProjectViewSchema, adminKey: CreatedKeySchema })
  .meta({ id: "CreatedProject" });
export type CreatedProject = z.infer<typeof CreatedProjectSchema>;

/** Who a key is: `GET /whoami`. */
export const WhoamiSchema = z.object({ project: z.string(), role: RoleSchema }).meta({ id: "Whoami" });
export type Whoami = z.infer<typeof WhoamiSchema>;

export const PromptMetaSchema = z.object(PromptMetaShape).meta({ id: "PromptMeta" });
export type PromptMeta = z.infer<typeof PromptMetaSchema>;

/** A row of the project's price table, in USD per million tokens as exact decimal strings. */
export const PriceSchema = z
  .object({
    id: z.string(),
    model: z.string(),
    effectiveFrom: z.string(),
    inputPerMTok: z.string(),
    outputPerMTok: z.string(),
    /** null: cached input tokens cost the input price. */
    cacheReadPerMTok: z.string().nullable(),
    cacheWritePerMTok: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: "Price" });
export type Price = z.infer<typeof PriceSchema>;
export const PriceListSchema = z.object({ data: z.array(PriceSchema) }).meta({ id: "PriceList" });

// ---- model connections ----

export const ConnectionSchema = z
  .object({
    name: z.string(),
    baseUrl: z.string(),
    model: z.string(),
    /** The server environment variable (PROMPTREG_SECRET_*) that holds the key; the key itself is never answered. */
    apiKeyEnv: z.string().nullable(),
    /** Whether the answering server's environment holds that variable. */
    apiKeyEnvSet: z.boolean(),
    headers: z.record(z.string(), z.string()),
    timeoutMs: z.number().int(),
    maxConcurrency: z.number().int(),
    requestsPerMinute: z.number().int().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: "Connection" });
export type Connection = z.infer<typeof ConnectionSchema>;
export const ConnectionListSchema = z.object({ data: z.array(ConnectionSchema) }).meta({ id: "ConnectionList" });
/** What one test request through a connection gave: the reply, or what the server (or the network) said. */
export const ConnectionTestResultSchema = z
  .discriminatedUnion("ok", [
    z.object({ ok: z.literal(true), latencyMs: z.number(), model: z.string().nullable(), reply: z.string() }),
    z.object({ ok: z.literal(false), error: z.string(), status: z.number().int().nullable(), retryable: z.boolean() }),
  ])
  .meta({ id: "ConnectionTestResult" });
export type ConnectionTestResult = z.infer<typeof ConnectionTestResultSchema>;

// ---- evaluators ----

export const EVALUATOR_KINDS = [
  "json",
  "json_schema",
  "regex",
  "contains",
  "not_contains",
  "length",
  "llm_judge",
] as const;
/** An evaluator's name: the annotation name compare reads (`failure=annotation:<name>`). */
export const EVALUATOR_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/;
/** How one span fared: passed or failed are verdicts; skipped and error are none (compare leaves them out). */
export const EVAL_STATUSES = ["passed", "failed", "skipped", "error"] as const;

/** What an evaluator looks at: a prompt by exact name or a folder prefix (neither: all), optionally one label's traffic. */
export const EvaluatorTargetSchema = z
  .object({ prompt: z.string().nullable(), prefix: z.string().nullable(), label: z.string().nullable() })
  .meta({ id: "EvaluatorTarget" });
export type EvaluatorTarget = z.infer<typeof EvaluatorTargetSchema>;

/** Counts of an evaluator's results (of one revision), and the share passed among the verdicts. */
export const EvalCountsSchema = z
  .object({
    passed: z.number().int(),
    failed: z.number().int(),
    skipped: z.number().int(),
    error: z.number().int(),
    /** Spans queued and not yet evaluated. */
    pending: z.number().int(),
    /** passed / (passed + failed), null without a verdict. */
    passRate: z.number().nullable(),
  })
  .meta({ id: "EvalCounts" });
export type EvalCounts = z.infer<typeof EvalCountsSchema>;

export const EvaluatorSchema = z
  .object({
    name: z.string(),
    kind: z.enum(EVALUATOR_KINDS),
    target: EvaluatorTargetSchema,
    sampleRate: z.number(),
    config: JsonObjectSchema,
    /** The definition's revision (1, 2, ...): every result records the one that made it. */
    revision: z.number().int(),
    enabled: z.boolean(),
    dailyBudget: z.number().int().nullable(),
    /** Evaluations run today (UTC), counted against the daily budget. */
    usedToday: z.number().int(),
    /** active, disabled, or budget_exhausted (stopped until the next UTC day). */
    status: z.enum(["active", "disabled", "budget_exhausted"]),
    /** The current revision's results so far. */
    results: EvalCountsSchema,
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: "Evaluator" });
export type Evaluator = z.infer<typeof EvaluatorSchema>;
export const EvaluatorListSchema = z.object({ data: z.array(EvaluatorSchema) }).meta({ id: "EvaluatorList" });

/** One span's evaluation, as a preview returns it (nothing stored). */
export const EvaluationSchema = z
  .object({
    traceId: z.string(),
    spanId: z.string(),
    startTime: z.string(),
    promptName: z.string().nullable(),
    promptVersion: z.string().nullable(),
    status: z.enum(EVAL_STATUSES),
    score: z.number().nullable(),
    reason: z.string(),
    /** The answer judged, cut to 2,000 characters. */
    output: z.string().nullable(),
  })
  .meta({ id: "Evaluation" });
export type Evaluation = z.infer<typeof EvaluationSchema>;
export const EvaluationPreviewSchema = z
  .object({ data: z.array(EvaluationSchema), counts: EvalCountsSchema })
  .meta({ id: "EvaluationPreview" });
export type EvaluationPreview = z.infer<typeof EvaluationPreviewSchema>;

export const EvaluatorResultsSchema = z
  .object({
    evaluator: z.string(),
    revision: z.number().int(),
    from: z.string().nullable(),
    to: z.string().nullable(),
    /** Per version of the prompts evaluated, newest results first. */
    versions: z.array(EvalCountsSchema.extend({ prompt: z.string(), version: z.string() })),
    total: EvalCountsSchema,
  })
  .meta({ id: "EvaluatorResults" });
export type EvaluatorResults = z.infer<typeof EvaluatorResultsSchema>;

export const BackfillSchema = z
  .object({
    id: z.string(),
    revision: z.number().int(),
    from: z.string(),
    to: z.string(),
    limit: z.number().int(),
    /** running: still finding spans; queued: all found, being evaluated; done; cancelled. */
    status: z.enum(["running", "queued", "done", "cancelled"]),
    /** Spans found and queued so far. */
    queued: z.number().int(),
    /** Of those, evaluated. */
    evaluated: z.number().int(),
    createdAt: z.string(),
    finishedAt: z.string().nullable(),
  })
  .meta({ id: "Backfill" });
export type Backfill = z.infer<typeof BackfillSchema>;

// ---- datasets ----

export const DATASET_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
/** An item's id: given by its writer, or made by the server (time-ordered, so new items list after older ones). */
export const DATASET_ITEM_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;
/** What made a dataset version: items written, an item deleted, an import, spans added from production. */
export const DATASET_SOURCES = ["items", "delete", "import", "spans"] as const;

export const DatasetSchema = z
  .object({
    name: z.string(),
    description: z.string(),
    /** Its latest version (0 before its first items); every change makes the next. */
    version: z.number().int(),
    /** Items of the latest version. */
    itemCount: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: "Dataset" });
export type Dataset = z.infer<typeof DatasetSchema>;
export const DatasetListSchema = z.object({ data: z.array(DatasetSchema) }).meta({ id: "DatasetList" });

export const DatasetItemSchema = z
  .object({
    id: z.string(),
    /** What the prompt is rendered with. */
    variables: JsonObjectSchema,
    /** The output wanted (text, or any JSON value), or null. */
    expected: z.unknown(),
    metadata: JsonObjectSchema,
    /** The dataset version in which the item took this content. */
    version: z.number().int(),
  })
  .meta({ id: "DatasetItem" });
export type DatasetItem = z.infer<typeof DatasetItemSchema>;
export const DatasetItemPageSchema = page(DatasetItemSchema)
  .extend({ version: z.number().int() })
  .meta({ id: "DatasetItemPage" });

export const DatasetVersionSchema = z
  .object({
    version: z.number().int(),
    source: z.enum(DATASET_SOURCES),
    itemCount: z.number().int(),
    createdAt: z.string(),
  })
  .meta({ id: "DatasetVersion" });
export const DatasetVersionListSchema = z
  .object({ data: z.array(DatasetVersionSchema) })
  .meta({ id: "DatasetVersionList" });

/** What a change to a dataset's items did: the version it made, and how many items it added, replaced or removed. */
export const DatasetChangeSchema = z
  .object({
    dataset: DatasetSchema,
    added: z.number().int(),
    replaced: z.number().int(),
    removed: z.number().int(),
    /** The written items' ids, in the order sent (answers to POST items and from-spans; an import leaves it out). */
    ids: z.array(z.string()).optional(),
  })
  .meta({ id: "DatasetChange" });
export type DatasetChange = z.infer<typeof DatasetChangeSchema>;

// ---- experiments ----

/** Evaluators an experiment has without defining them: they compare the output with the item's `expected`. */
export const BUILTIN_EXPERIMENT_EVALUATORS = ["exact_match", "similarity"] as const;
export const EXPERIMENT_STATUSES = ["running", "finished", "cancelled"] as const;
/** `server`: the service renders, calls a model connection and evaluates; `client`: the application runs each item. */
export const EXPERIMENT_MODES = ["server", "client"] as const;
/** Versions one experiment runs at most. */
export const MAX_EXPERIMENT_VERSIONS = 10;
/** Characters of an output stored and compared: a server run clips a longer answer, a client run's is refused. */
export const MAX_EXPERIMENT_OUTPUT_CHARS = 256 * 1024;
/** Results one `POST /experiments/:id/results` sends at most. */
export const MAX_EXPERIMENT_RESULTS_BATCH = 100;

const evaluatorNames = z.array(z.string().min(1).max(100)).max(20);

export const CreateExperimentBodySchema = z.strictObject({
  dataset: z.string().min(1).max(100),
  datasetVersion: z.int().min(1).optional(),
  prompt: z.string().min(1).max(500),
  versions: z.array(z.string().min(1).max(200)).min(1).max(MAX_EXPERIMENT_VERSIONS),
  mode: z.enum(EXPERIMENT_MODES).default("server"),
  /** The model connection a `server` run calls (required there); a `client` run calls none. */
  connection: z.string().min(1).max(64).optional(),
  model: z.string().min(1).max(256).optional(),
  /** A `server` run's calls in flight at most (per instance), within the connection's `maxConcurrency`. */
  concurrency: z.int().min(1).max(256).optional(),
  /** Judged on the server: the project's evaluators and the built-in ones. */
  evaluators: evaluatorNames.default([]),
  /** A `client` run's own evaluators, judged in the application: their verdicts come with its results. */
  clientEvaluators: z
    .array(z.string().regex(EVALUATOR_NAME_PATTERN, "must be 1-100 letters, digits, '_', '.', ':' or '-'"))
    .max(20)
    .default([]),
});
export type CreateExperimentBody = z.infer<typeof CreateExperimentBodySchema>;

/**
 * A client evaluator's verdict on one output: `passed` true or false (else it is `skipped`), a score, a reason; or
 * the evaluator's own failure (`error`), which is no failed evaluation.
 */
export const ClientVerdictSchema = z.strictObject({
  passed: z.boolean().optional(),
  score: z.number().min(-1e6).max(1e6).optional(),
  reason: z.string().max(4_000).optional(),
  error: z.string().max(4_000).optional(),
});
export type ClientVerdict = z.infer<typeof ClientVerdictSchema>;

/** One item's outcome on one run of a client run: its output, or the task's error. */
export const ClientResultSchema = z
  .strictObject({
    /** The run's id, or its version or reference. */
    run: z.string().min(1).max(200),
    itemId: z.string().min(1).max(128),
    output: z.string().max(MAX_EXPERIMENT_OUTPUT_CHARS).nullable().optional(),
    /** The task failed: recorded as the item's error, never judged. */
    error: z.string().max(16_000).nullable().optional(),
    latencyMs: z.number().min(0).max(2_147_483_647).nullable().optional(),
    promptTokens: z.number().int().min(0).max(2_147_483_647).nullable().optional(),
    completionTokens: z.number().int().min(0).max(2_147_483_647).nullable().optional(),
    cost: z.number().min(0).max(1e12).nullable().optional(),
    /** Verdicts of the experiment's `clientEvaluators`, by name. */
    scores: z.record(z.string(), ClientVerdictSchema).optional(),
  })
  .refine((r) => (r.output == null) !== (r.error == null), "give either an output or an error");
export type ClientResult = z.infer<typeof ClientResultSchema>;

export const ExperimentResultsBodySchema = z.strictObject({
  results: z.array(ClientResultSchema).min(1).max(MAX_EXPERIMENT_RESULTS_BATCH),
});
export type ExperimentResultsBody = z.infer<typeof ExperimentResultsBodySchema>;

/** What a batch of results did: queued for the server's evaluators, or skipped (that item already has a result). */
export const ExperimentResultsAnswerSchema = z
  .object({
    queued: z.number().int(),
    skipped: z.array(z.object({ run: z.string(), itemId: z.string() })),
  })
  .meta({ id: "ExperimentResultsAnswer" });
export type ExperimentResultsAnswer = z.infer<typeof ExperimentResultsAnswerSchema>;

/** The (run, item) pairs the server has a result for, or has received and is evaluating. */
export const ExperimentReceivedPageSchema = page(z.object({ run: z.string(), itemId: z.string() })).meta({
  id: "ExperimentReceivedPage",
});

/** One evaluator's verdict on one output: as a span's (passed, failed, skipped, error), with its score if any. */
export const ItemEvaluationSchema = z
  .object({ status: z.enum(EVAL_STATUSES), score: z.number().nullable(), reason: z.string() })
  .meta({ id: "ItemEvaluation" });

export const ExperimentRunSchema = z
  .object({
    id: z.string(),
    /** The reference asked for (`production`, `2.1.0`), and the version it named when the experiment started. */
    ref: z.string(),
    version: z.string(),
    /** Items with a result, and of those, the ones whose task failed (an error, not a failed evaluation). */
    done: z.number().int(),
    errors: z.number().int(),
    /** Per evaluator: verdicts so far. */
    evaluations: z.record(
      z.string(),
      z.object({
        passed: z.number().int(),
        failed: z.number().int(),
        skipped: z.number().int(),
        error: z.number().int(),
        passRate: z.number().nullable(),
      }),
    ),
    meanLatencyMs: z.number().nullable(),
    promptTokens: z.number().int(),
    completionTokens: z.number().int(),
    /** The sum of the costs reported (client runs), or null when none was. */
    cost: z.number().nullable(),
  })
  .meta({ id: "ExperimentRun" });

export const ExperimentSchema = z
  .object({
    id: z.string(),
    dataset: z.string(),
    datasetVersion: z.number().int(),
    prompt: z.string(),
    mode: z.enum(EXPERIMENT_MODES),
    connection: z.string().nullable(),
    model: z.string().nullable(),
    /** A server run's calls in flight at most (null: the connection's limit alone). */
    concurrency: z.number().int().nullable(),
    /** Every evaluator whose verdicts the results hold: the server's, then the client run's own. */
    evaluators: z.array(z.string()),
    /** Of `evaluators`, those judged in the application (a client run). */
    clientEvaluators: z.array(z.string()),
    status: z.enum(EXPERIMENT_STATUSES),
    /** Items of the dataset version: each run has this many to do. */
    itemCount: z.number().int(),
    runs: z.array(ExperimentRunSchema),
    createdAt: z.string(),
    finishedAt: z.string().nullable(),
  })
  .meta({ id: "Experiment" });
export type Experiment = z.infer<typeof ExperimentSchema>;
export const ExperimentListSchema = z.object({ data: z.array(ExperimentSchema) }).meta({ id: "ExperimentList" });

export const ExperimentResultSchema = z
  .object({
    run: z.string(),
    version: z.string(),
    itemId: z.string(),
    output: z.string().nullable(),
    /** The task's failure (rendering, the model call after its retries): then there is no output to evaluate. */
    error: z.string().nullable(),
    latencyMs: z.number().int().nullable(),
    promptTokens: z.number().int().nullable(),
    completionTokens: z.number().int().nullable(),
    cost: z.number().nullable(),
    evaluations: z.record(z.string(), ItemEvaluationSchema),
  })
  .meta({ id: "ExperimentResult" });
export const ExperimentResultPageSchema = page(ExperimentResultSchema).meta({ id: "ExperimentResultPage" });

const PairedSide = z.object({
  passed: z.number().int(),
  failed: z.number().int(),
  passRate: z.number().nullable(),
  /** 95% Wilson interval of the pass rate. */
  interval: z.object({ low: z.number(), high: z.number() }).nullable(),
  meanScore: z.number().nullable(),
});

export const ExperimentComparisonSchema = z
  .object({
    baseline: z.object({ ref: z.string(), version: z.string() }),
    candidate: z.object({ ref: z.string(), version: z.string() }),
    alpha: z.number(),
    evaluators: z.array(
      z.object({
        name: z.string(),
        /** Items with a verdict (passed or failed) on both versions: the pairs tested. */
        pairs: z.number().int(),
        baseline: PairedSide,
        candidate: PairedSide,
        /** Passed on the baseline and failed on the candidate; the other way round. */
        regressed: z.number().int(),
        improved: z.number().int(),
        /** McNemar's exact test on the discordant pairs (two-sided). */
        pValue: z.number().nullable(),
        /** The Wilcoxon signed-rank test on the paired scores, when both versions have scores. */
        scores: z
          .object({ pairs: z.number().int(), meanDifference: z.number(), pValue: z.number(), method: z.string() })
          .nullable(),
        verdict: z.enum(["worse", "better", "no_difference", "insufficient_data"]),
      }),
    ),
    /** Items that passed an evaluator on the baseline and fail it on the candidate, with both outputs. */
    regressions: z.array(
      z.object({
        itemId: z.string(),
        evaluator: z.string(),
        variables: JsonObjectSchema,
        expected: z.unknown(),
        baselineOutput: z.string().nullable(),
        candidateOutput: z.string().nullable(),
        reason: z.string(),
      }),
    ),
    improvements: z.array(z.object({ itemId: z.string(), evaluator: z.string() })),
    performance: z.object({
      baseline: z.object({
        meanLatencyMs: z.number().nullable(),
        promptTokens: z.number(),
        completionTokens: z.number(),
        /** Mean cost of the answered items that reported one; null when none did. */
        cost: z.number().nullable(),
        errors: z.number().int(),
      }),
      candidate: z.object({
        meanLatencyMs: z.number().nullable(),
        promptTokens: z.number(),
        completionTokens: z.number(),
        /** Mean cost of the answered items that reported one; null when none did. */
        cost: z.number().nullable(),
        errors: z.number().int(),
      }),
    }),
    verdict: z.string(),
  })
  .meta({ id: "ExperimentComparison" });
export type ExperimentComparison = z.infer<typeof ExperimentComparisonSchema>;

export const PutGateBodySchema = z.strictObject({
  /** The dataset whose latest version the experiment must have run on. */
  dataset: z.string().min(1).max(100),
  /** Evaluators on which the target version may not regress significantly (McNemar's exact test at `alpha`). */
  evaluators: z.array(z.string().min(1).max(100)).min(1).max(20),
  alpha: z.number().gt(0).lt(1).default(0.05),
  /** The prompts the gate applies to: those whose name starts with it (all by default). */
  prefix: z.string().max(500).default(""),
});
export type PutGateBody = z.infer<typeof PutGateBodySchema>;

export const GateSchema = z
  .object({
    label: z.string(),
    dataset: z.string(),
    evaluators: z.array(z.string()),
    alpha: z.number(),
    prefix: z.string(),
    updatedBy: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: "Gate" });
export type Gate = z.infer<typeof GateSchema>;
export const GateListSchema = z.object({ data: z.array(GateSchema) }).meta({ id: "GateList" });

/** What a label's gate says of moving one prompt's label to a version (a refused move's 409 carries the same). */
export const GateVerdictSchema = z
  .object({
    label: z.string(),
    prompt: z.string(),
    version: z.string(),
    /** What the label holds now: the baseline the version must not be worse than. */
    holds: z.string().nullable(),
    /** No gate applies (none on the label, the prompt outside its prefix, or the label already holds the version). */
    gated: z.boolean(),
    allowed: z.boolean(),
    dataset: z.object({ name: z.string(), version: z.number().int() }).nullable(),
    /** The experiment the verdict rests on: the newest finished one that ran both versions with the gate's evaluators. */
    experiment: z.string().nullable(),
    failures: z.array(
      z.object({
        evaluator: z.string(),
        baselinePassRate: z.number().nullable(),
        candidatePassRate: z.number().nullable(),
        regressed: z.number().int(),
        improved: z.number().int(),
        pValue: z.number().nullable(),
      }),
    ),
    message: z.string(),
  })
  .meta({ id: "GateVerdict" });
export type GateVerdict = z.infer<typeof GateVerdictSchema>;

// ---- traces, spans and comparisons ----

/** Where a client got the prompt a span was rendered from (`promptreg.prompt.source`). */
export const PROMPT_SOURCES = ["network", "cache", "stale", "snapshot", "fallback"] as const;
export const LINK_STATUSES = ["linked", "unknown_prompt", "unknown_version", "none"] as const;
/** Span status names, indexed by OTLP status code. */
export const SPAN_STATUSES = ["unset", "ok", "error"] as const;
export const ANNOTATION_KINDS = ["human", "eval", "code"] as const;

export type AttributeValue = string | number | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };
export const AttributeValueSchema: z.ZodType<AttributeValue> = z
  .lazy(() =>
    z.union([
      z.string(),
      z.number(),
      z.boolean(),
      z.null(),
      z.array(AttributeValueSchema),
      z.record(z.string(), AttributeValueSchema),
    ]),
  )
  .meta({ id: "AttributeValue" });
export const AttributesSchema = z.record(z.string(), AttributeValueSchema).meta({ id: "Attributes" });
export type Attributes = z.infer<typeof AttributesSchema>;

export const SpanEventSchema = z
  .object({ name: z.string(), timeUnixNano: z.string(), attributes: AttributesSchema })
  .meta({ id: "SpanEvent" });
export type SpanEvent = z.infer<typeof SpanEventSchema>;

export const SpanSchema = z
  .object({
    traceId: z.string(),
    spanId: z.string(),
    parentSpanId: z.string().nullable(),
    name: z.string(),
    /** OTLP SpanKind number. */
    kind: z.number().int(),
    spanKind: z.string().nullable(),
    startTime: z.string(),
    endTime: z.string(),
    startTimeUnixNano: z.string(),
    endTimeUnixNano: z.string(),
    latencyMs: z.number(),
    status: z.enum(SPAN_STATUSES),
    statusCode: z.number().int(),
    failed: z.boolean(),
    errorMessage: z.string().nullable(),
    promptName: z.string().nullable(),
    promptVersion: z.string().nullable(),
    promptId: z.string().nullable(),
    versionId: z.string().nullable(),
    linkStatus: z.enum(LINK_STATUSES),
    /** The PROMPT span (Arthur's SDK) the link was taken from, for an LLM span that named no prompt itself. */
    promptSpanId: z.string().nullable(),
    /** Under an EVALUATOR or GUARDRAIL span: never counted as the prompt's traffic. */
    inEvaluation: z.boolean(),
    /** Another span records the same call (an outer instrumentation layer, a later attempt): not counted. */
    nestedCall: z.boolean(),
    label: z.string().nullable(),
    source: z.string().nullable(),
    /** The request model (what compare groups by). */
    model: z.string().nullable(),
    responseModel: z.string().nullable(),
    provider: z.string().nullable(),
    sessionId: z.string().nullable(),
    userId: z.string().nullable(),
    tokensPrompt: z.number().nullable(),
    tokensCompletion: z.number().nullable(),
    tokensTotal: z.number().nullable(),
    tokensCacheRead: z.number().nullable(),
    tokensCacheWrite: z.number().nullable(),
    tokensReasoning: z.number().nullable(),
    costUsd: z.number().nullable(),
    /** sent: the span carried it; computed: from the price table at ingest; null: unknown. */
    costSource: z.enum(["sent", "computed"]).nullable(),
    attributes: AttributesSchema,
    /** The span's resource and instrumentation scope: keys of the answer's `resources` and `scopes`. */
    resourceId: z.string().nullable(),
    scopeId: z.string().nullable(),
    events: z.array(SpanEventSchema),
    receivedAt: z.string(),
  })
  .meta({ id: "Span" });
export type Span = z.infer<typeof SpanSchema>;

export const ScopeSchema = z
  .object({ name: z.string(), version: z.string(), attributes: AttributesSchema })
  .meta({ id: "Scope" });
export type Scope = z.infer<typeof ScopeSchema>;

/**
 * The resources and scopes of an answer's spans, each once however many spans share it: a resource is the same for
 * every span a process sends, and may be large.
 */
const SpanOriginsShape = {
  resources: z.record(z.string(), AttributesSchema),
  scopes: z.record(z.string(), ScopeSchema),
};
export const SpanOriginsSchema = z.object(SpanOriginsShape);
export type SpanOrigins = z.infer<typeof SpanOriginsSchema>;

export const SpanListSchema = z
  .object({
    data: z.array(SpanSchema),
    nextCursor: z.string().nullable(),
    ...SpanOriginsShape,
  })
  .meta({ id: "SpanList" });
export type SpanList = z.infer<typeof SpanListSchema>;

export const AnnotationSchema = z
  .object({
    traceId: z.string(),
    /** Absent (null) for an annotation of the whole trace. */
    spanId: z.string().nullable(),
    name: z.string(),
    kind: z.enum(ANNOTATION_KINDS),
    score: z.number().nullable(),
    label: z.string().nullable(),
    passed: z.boolean().nullable(),
    comment: z.string().nullable(),
    /** An evaluator's result: the revision of its definition (null for an annotation posted through the API). */
    revision: z.number().int().nullable(),
    /** An evaluator's result: passed | failed, or skipped | error (no verdict); null for a posted annotation. */
    status: z.enum(EVAL_STATUSES).nullable(),
    /** An evaluator's result: what judged it (the judge prompt's version, the model, the judge call's trace). */
    details: JsonObjectSchema.nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: "Annotation" });
export type Annotation = z.infer<typeof AnnotationSchema>;
export const AnnotationListSchema = z.object({ data: z.array(AnnotationSchema) }).meta({ id: "AnnotationList" });

export type SpanNode = Span & { annotations: Annotation[]; children: SpanNode[] };
export const SpanNodeSchema: z.ZodType<SpanNode> = z
  .lazy(() => SpanSchema.extend({ annotations: z.array(AnnotationSchema), children: z.array(SpanNodeSchema) }))
  .meta({ id: "SpanNode" });

export const TraceSchema = z
  .object({
    traceId: z.string(),
    spanCount: z.number().int(),
    truncated: z.boolean(),
    /** Annotations of the whole trace, and of spans not (yet) stored. */
    annotations: z.array(AnnotationSchema),
    /** Root spans (and spans whose parent is not stored), each with its children nested, by start time. */
    spans: z.array(SpanNodeSchema),
    ...SpanOriginsShape,
  })
  .meta({ id: "Trace" });
export type Trace = z.infer<typeof TraceSchema>;

export const VerdictSchema = z
  .enum(["better", "worse", "no-significant-difference", "insufficient-data"])
  .meta({ id: "Verdict" });
export type Verdict = z.infer<typeof VerdictSchema>;

/** What "failed" means in a comparison: by status, by an annotation, or either. */
export const FailureDefinitionSchema = z
  .discriminatedUnion("kind", [
    z.object({ kind: z.literal("status") }),
    z.object({
      kind: z.literal("annotation"),
      name: z.string(),
      threshold: z.number().nullable(),
      /** The evaluator revision whose results judge (the `revision` query); null: the evaluator's current one. */
      revision: z.number().int().nullable(),
    }),
    z.object({
      kind: z.literal("any"),
      name: z.string().nullable(),
      threshold: z.number().nullable(),
      revision: z.number().int().nullable(),
    }),
  ])
  .meta({ id: "FailureDefinition" });
export type FailureDefinition = z.infer<typeof FailureDefinitionSchema>;

const nullableNumber = z.number().nullable();
/** Sum and mean over the spans that reported the count (`count` of them): a span that did not is unknown, not 0. */
const TokenFiguresSchema = z.object({ mean: nullableNumber, sum: z.number(), count: z.number().int() });
const RefSchema = z.object({ ref: z.string(), version: z.string() });

export const CompareVersionSchema = z
  .object({
    version: z.string(),
    units: z.number().int(),
    spans: z.number().int(),
    failures: z.number().int(),
    failureRate: nullableNumber,
    failureRateCI: z.object({ low: z.number(), high: z.number() }).nullable(),
    /** Under an annotation-based failure: how many of the version's units carry the annotation. */
    coverage: z
      .object({
        annotatedUnits: z.number().int(),
        allUnits: z.number().int(),
        rate: nullableNumber,
        /** Units whose evaluator results are all `error` (a judge that failed): no verdict, left out of the judged. */
        evaluationErrors: z.number().int(),
      })
      .nullable(),
    latencyMs: z.object({ p50: nullableNumber, p95: nullableNumber, p99: nullableNumber, mean: nullableNumber }),
    /** Cache tokens are parts of the prompt tokens, reasoning tokens of the completion. */
    tokens: z.object({
      prompt: TokenFiguresSchema,
      completion: TokenFiguresSchema,
      total: TokenFiguresSchema,
      cacheRead: TokenFiguresSchema,
      cacheWrite: TokenFiguresSchema,
      reasoning: TokenFiguresSchema,
    }),
    /** Over the spans that have a cost (`count`): sent by the span or computed at ingest; `unknown` spans have none. */
    costUsd: z.object({
      mean: nullableNumber,
      sum: z.number(),
      count: z.number().int(),
      sent: z.object({ sum: z.number(), count: z.number().int() }),
      computed: z.object({ sum: z.number(), count: z.number().int() }),
      unknown: z.number().int(),
      explanation: z.string(),
    }),
    annotations: z.array(
      z.object({ name: z.string(), count: z.number().int(), passRate: nullableNumber, meanScore: nullableNumber }),
    ),
    bySource: z.array(
      z.object({
        source: z.string(),
        units: z.number().int(),
        failures: z.number().int(),
        failureRate: nullableNumber,
      }),
    ),
  })
  .meta({ id: "CompareVersion" });
export type CompareVersion = z.infer<typeof CompareVersionSchema>;

export const ComparisonSchema = z
  .object({
    version: z.string(),
    baseline: z.string(),
    verdict: VerdictSchema,
    explanation: z.string(),
    minSample: z.number().int(),
    /** How many more units each side needs before there is a verdict at all (0 when it has enough). */
    moreUnitsNeeded: z.object({ baseline: z.number().int(), candidate: z.number().int() }),
    failureRateDiff: z.object({ diff: z.number(), low: z.number(), high: z.number() }).nullable(),
    pValue: nullableNumber,
    test: z.enum(["z", "fisher"]).nullable(),
    latencyP95DiffMs: nullableNumber,
    meanCostDiffUsd: nullableNumber,
  })
  .meta({ id: "Comparison" });
export type Comparison = z.infer<typeof ComparisonSchema>;

/** LLM spans that name the prompt but are in none of its versions' figures, by reason. */
export const UnattributedSchema = z
  .object({
    total: z.number().int(),
    /** Served from the client's inline fallback that named no version. */
    fallbackWithoutVersion: z.number().int(),
    /** The prompt existed but had no such version, or the span named none. */
    unknownVersion: z.number().int(),
    /** Sent before a prompt of this name existed in the project (or for an earlier prompt of the name). */
    unknownPrompt: z.number().int(),
    explanation: z.string(),
  })
  .meta({ id: "Unattributed" });
export type Unattributed = z.infer<typeof UnattributedSchema>;

export const CompareSchema = z
  .object({
    prompt: z.string(),
    unit: z.enum(["span", "trace"]),
    failure: FailureDefinitionSchema,
    /** Every reference as given, with the version it resolved to. */
    refs: z.array(RefSchema),
    filters: z.object({
      from: z.string().nullable(),
      to: z.string().nullable(),
      label: z.string().nullable(),
      model: z.string().nullable(),
      session: z.string().nullable(),
      user: z.string().nullable(),
      source: z.string().nullable(),
      rollout: z.string().nullable(),
      arm: RolloutArmSchema.nullable(),
    }),
    /** How p50/p95/p99 were computed (`exact`, or from histograms within a stated error); every other figure is exact. */
    percentiles: z.string(),
    baseline: z.string(),
    versions: z.array(CompareVersionSchema),
    comparisons: z.array(ComparisonSchema),
    unattributed: UnattributedSchema,
  })
  .meta({ id: "Compare" });
export type CompareAnswer = z.infer<typeof CompareSchema>;

/** A move of the label the time series follows. */
export const LedgerEventSchema = LabelEventSchema.omit({ id: true, createdAt: true, gate: true })
  .extend({ at: z.string() })
  .meta({ id: "LedgerEvent" });
export type LedgerEvent = z.infer<typeof LedgerEventSchema>;

export const TimePointSchema = z
  .object({
    start: z.string(),
    /** Judged units, as in compare; latency and cost cover every span of the bucket. */
    count: z.number().int(),
    spans: z.number().int(),
    failures: z.number().int(),
    failureRate: nullableNumber,
    latencyP95Ms: nullableNumber,
    costMeanUsd: nullableNumber,
  })
  .meta({ id: "TimePoint" });
export type TimePoint = z.infer<typeof TimePointSchema>;

export const TimeseriesSchema = z
  .object({
    prompt: z.string(),
    bucket: z.enum(["5m", "1h", "1d"]),
    versions: z.array(z.string()),
    refs: z.array(RefSchema),
    percentiles: z.string(),
    series: z.array(z.object({ version: z.string(), points: z.array(TimePointSchema) })),
    events: z.array(LedgerEventSchema),
  })
  .meta({ id: "Timeseries" });
export type Timeseries = z.infer<typeof TimeseriesSchema>;

// ---- guarded rollouts ----

/** One arm's figures over the rollout so far, as compare counts them. */
export const RolloutArmFiguresSchema = z.object({
  version: z.string(),
  /** Judged units (the failure definition's). */
  units: z.int(),
  failures: z.int(),
  failureRate: nullableNumber,
  latencyP95Ms: nullableNumber,
  costMeanUsd: nullableNumber,
});

export const RolloutVerdictSchema = z
  .object({
    outcome: z.enum(["hold", "advance", "finish", "abort", "pause"]),
    /** What the guard saw and did, in one sentence (the ledger's reason for what it changed). */
    sentence: z.string(),
    at: z.string(),
    /**
     * The always-valid test's likelihood ratio for "the candidate fails more" (mixture SPRT, see the README); harm
     * once it reaches `threshold` (1 / alpha). Null before both arms have `minSample` units.
     */
    statistic: nullableNumber,
    threshold: z.number(),
    baseline: RolloutArmFiguresSchema,
    candidate: RolloutArmFiguresSchema,
  })
  .meta({ id: "RolloutVerdict" });
export type RolloutVerdict = z.infer<typeof RolloutVerdictSchema>;

export const RolloutSchema = z
  .object({
    id: z.string(),
    prompt: z.string(),
    label: z.string(),
    state: RolloutStateSchema,
    baselineVersion: z.string(),
    candidateVersion: z.string(),
    steps: z.array(z.object({ share: z.number(), minDurationMs: z.int(), minUnits: z.int() })),
    /** The current step, from 1. */
    step: z.int(),
    /** The candidate's share now: the step's, 0 once aborted, 1 once finished. */
    share: z.number(),
    stepStartedAt: z.string(),
    guard: z.object({
      failure: z.string(),
      threshold: nullableNumber,
      revision: z.int().nullable(),
      alpha: z.number(),
      minSample: z.int(),
      maxP95IncreaseMs: nullableNumber,
      maxMeanCostIncrease: nullableNumber,
    }),
    autoRollback: z.boolean(),
    startedBy: z.string(),
    createdAt: z.string(),
    endedAt: z.string().nullable(),
    /** How many times the guard evaluated it. */
    evaluations: z.int(),
    /** Each arm's figures now. */
    arms: z.object({ baseline: RolloutArmFiguresSchema, candidate: RolloutArmFiguresSchema }),
    verdict: RolloutVerdictSchema.nullable(),
  })
  .meta({ id: "Rollout" });
export type Rollout = z.infer<typeof RolloutSchema>;
