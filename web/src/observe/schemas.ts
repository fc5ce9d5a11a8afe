// The answers of the comparison and trace endpoints, as the console reads them (src/compare/compare.service.ts,
// src/traces/traces.service.ts). Every answer is parsed with these, so a change on the server that the pages do not
// know about is an error on the page, not a chart quietly drawn from undefined.
import { z } from "zod";

const nullableNumber = z.number().nullable();

export const VerdictSchema = z.enum(["better", "worse", "no-significant-difference", "insufficient-data"]);
export type Verdict = z.infer<typeof VerdictSchema>;

export const SOURCES = ["network", "cache", "stale", "snapshot", "fallback"] as const;

const SumMean = z.object({ mean: nullableNumber, sum: z.number() });

export const CompareVersionSchema = z.object({
  version: z.string(),
  units: z.number(),
  spans: z.number(),
  failures: z.number(),
  failureRate: nullableNumber,
  failureRateCI: z.object({ low: z.number(), high: z.number() }).nullable(),
  coverage: z.object({ annotatedUnits: z.number(), allUnits: z.number(), rate: nullableNumber }).nullable(),
  latencyMs: z.object({ p50: nullableNumber, p95: nullableNumber, p99: nullableNumber, mean: nullableNumber }),
  tokens: z.object({ prompt: SumMean, completion: SumMean, total: SumMean }),
  costUsd: SumMean,
  annotations: z.array(
    z.object({ name: z.string(), count: z.number(), passRate: nullableNumber, meanScore: nullableNumber }),
  ),
  bySource: z.array(
    z.object({ source: z.string(), units: z.number(), failures: z.number(), failureRate: nullableNumber }),
  ),
});
export type CompareVersion = z.infer<typeof CompareVersionSchema>;

export const ComparisonSchema = z.object({
  version: z.string(),
  baseline: z.string(),
  verdict: VerdictSchema,
  explanation: z.string(),
  minSample: z.number(),
  moreUnitsNeeded: z.object({ baseline: z.number(), candidate: z.number() }),
  failureRateDiff: z.object({ diff: z.number(), low: z.number(), high: z.number() }).nullable(),
  pValue: nullableNumber,
  test: z.enum(["z", "fisher"]).nullable(),
  latencyP95DiffMs: nullableNumber,
  meanCostDiffUsd: nullableNumber,
});
export type Comparison = z.infer<typeof ComparisonSchema>;

export const FailureSchema = z.object({
  kind: z.enum(["status", "annotation", "any"]),
  name: z.string().nullish(),
  threshold: nullableNumber.optional(),
});

export const CompareSchema = z.object({
  prompt: z.string(),
  unit: z.enum(["span", "trace"]),
  failure: FailureSchema,
  refs: z.array(z.object({ ref: z.string(), version: z.string() })),
  percentiles: z.string(),
  baseline: z.string(),
  versions: z.array(CompareVersionSchema),
  comparisons: z.array(ComparisonSchema),
  unattributed: z.object({
    total: z.number(),
    fallbackWithoutVersion: z.number(),
    unknownVersion: z.number(),
    unknownPrompt: z.number(),
    explanation: z.string(),
  }),
});
export type CompareAnswer = z.infer<typeof CompareSchema>;

export const LedgerEventSchema = z.object({
  label: z.string(),
  action: z.string(),
  fromVersion: z.string().nullable(),
  toVersion: z.string().nullable(),
  actor: z.string(),
  reason: z.string().nullable(),
  at: z.string(),
});
export type LedgerEvent = z.infer<typeof LedgerEventSchema>;

export const TimePointSchema = z.object({
  start: z.string(),
  count: z.number(),
  spans: z.number(),
  failures: z.number(),
  failureRate: nullableNumber,
  latencyP95Ms: nullableNumber,
  costMeanUsd: nullableNumber,
});
export type TimePoint = z.infer<typeof TimePointSchema>;

export const TimeseriesSchema = z.object({
  prompt: z.string(),
  bucket: z.enum(["5m", "1h", "1d"]),
  versions: z.array(z.string()),
  refs: z.array(z.object({ ref: z.string(), version: z.string() })),
  percentiles: z.string(),
  series: z.array(z.object({ version: z.string(), points: z.array(TimePointSchema) })),
  events: z.array(LedgerEventSchema),
});
export type Timeseries = z.infer<typeof TimeseriesSchema>;

type AttributeValue = string | number | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };
const AttributeValueSchema: z.ZodType<AttributeValue> = z.lazy(() =>
  z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(AttributeValueSchema),
    z.record(z.string(), AttributeValueSchema),
  ]),
);
export const AttributesSchema = z.record(z.string(), AttributeValueSchema);
export type Attributes = z.infer<typeof AttributesSchema>;

export const SpanSchema = z.object({
  traceId: z.string(),
  spanId: z.string(),
  parentSpanId: z.string().nullable(),
  name: z.string(),
  kind: z.number(),
  spanKind: z.string().nullable(),
  startTime: z.string(),
  endTime: z.string(),
  startTimeUnixNano: z.string(),
  endTimeUnixNano: z.string(),
  latencyMs: z.number(),
  status: z.enum(["unset", "ok", "error"]),
  failed: z.boolean(),
  errorMessage: z.string().nullable(),
  promptName: z.string().nullable(),
  promptVersion: z.string().nullable(),
  versionId: z.string().nullable(),
  linkStatus: z.string(),
  /** Another span records the same call (an outer instrumentation layer, a later attempt): not counted. */
  nestedCall: z.boolean(),
  label: z.string().nullable(),
  source: z.string().nullable(),
  model: z.string().nullable(),
  sessionId: z.string().nullable(),
  userId: z.string().nullable(),
  tokensPrompt: nullableNumber,
  tokensCompletion: nullableNumber,
  tokensTotal: nullableNumber,
  costUsd: nullableNumber,
  attributes: AttributesSchema,
  resourceId: z.string().nullable(),
  scopeId: z.string().nullable(),
  events: z.array(z.object({ name: z.string(), timeUnixNano: z.string(), attributes: AttributesSchema })),
});
export type Span = z.infer<typeof SpanSchema>;

// An answer's resources and scopes, each once: spans refer to them by id.
const ScopeSchema = z.object({ name: z.string(), version: z.string(), attributes: AttributesSchema });
export type Scope = z.infer<typeof ScopeSchema>;
const OriginsShape = {
  resources: z.record(z.string(), AttributesSchema),
  scopes: z.record(z.string(), ScopeSchema),
};

export const SpanListSchema = z.object({
  data: z.array(SpanSchema),
  nextCursor: z.string().nullable(),
  ...OriginsShape,
});

export const AnnotationSchema = z.object({
  traceId: z.string(),
  spanId: z.string().nullable(),
  name: z.string(),
  kind: z.string(),
  score: nullableNumber,
  label: z.string().nullable(),
  passed: z.boolean().nullable(),
  comment: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Annotation = z.infer<typeof AnnotationSchema>;
export const AnnotationListSchema = z.object({ data: z.array(AnnotationSchema) });

export type SpanNode = Span & { annotations: Annotation[]; children: SpanNode[] };
export const SpanNodeSchema: z.ZodType<SpanNode> = z.lazy(() =>
  SpanSchema.extend({ annotations: z.array(AnnotationSchema), children: z.array(SpanNodeSchema) }),
);

export const TraceSchema = z.object({
  traceId: z.string(),
  spanCount: z.number(),
  truncated: z.boolean(),
  annotations: z.array(AnnotationSchema),
  spans: z.array(SpanNodeSchema),
  ...OriginsShape,
});
export type Trace = z.infer<typeof TraceSchema>;
