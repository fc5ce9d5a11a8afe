// A prompt's versions over time: per bucket, the counts, failures, p95 latency and mean cost, with the moves of a
// label as events. From span_rollups when they can answer and the series is large (timeseries-rollup.ts), else from
// the raw spans (timeseries-raw.ts), as comparisons choose.
import type { Principal } from "../auth/principal.js";
import { AppError } from "../http/errors.js";
import { labelEventsBetween } from "../labels/labels.service.js";
import type { CompareServiceDeps } from "./compare.service.js";
import { requireRecordedAnnotations } from "./failure.js";
import {
  EXACT_PERCENTILES_UP_TO,
  num,
  PERCENTILES,
  rollupsCanAnswer,
  type Rows,
  type TimeseriesQuery,
} from "./queries.js";
import { rawPoints, rawRange } from "./timeseries-raw.js";
import { rolledPoints, rolledRange } from "./timeseries-rollup.js";
import { pickVersions } from "./versions.js";

const BUCKETS = { "5m": "5 minutes", "1h": "1 hour", "1d": "1 day" } as const;
const BUCKET_MS = { "5m": 300_000, "1h": 3_600_000, "1d": 86_400_000 } as const;
const MAX_BUCKETS = 5_000;

export async function versionTimeseries(
  { db, database, prompts }: CompareServiceDeps,
  p: Principal,
  name: string,
  q: TimeseriesQuery,
) {
  const { prompt, versions, refs } = await pickVersions({ db, prompts }, p, name, q.versions, 1);
  await requireRecordedAnnotations(database, p.projectId, prompt, q.failure);
  const ids = versions.map((v) => v.id);
  const mode = q.percentiles ?? "auto";
  const bucketMs = BUCKET_MS[q.bucket];
  // Refuse ranges that would produce an unbounded number of buckets.
  const checkBucketCount = (lo: Date | null, hi: Date | null) => {
    if (lo && hi && (new Date(hi).getTime() - new Date(lo).getTime()) / bucketMs > MAX_BUCKETS)
      throw new AppError(
        "validation_error",
        `that range holds more than ${MAX_BUCKETS} buckets of ${q.bucket}: narrow it or use a larger bucket`,
        {
          issues: [{ path: "query.bucket", message: "too many buckets for the range" }],
        },
      );
  };

  let rows: Rows | null = null;
  if (mode !== "exact" && q.bucket !== "5m" && rollupsCanAnswer(q)) {
    if (!q.from || !q.to) {
      // Hour starts: the range may read up to an hour short, which never matters against MAX_BUCKETS.
      const range = await rolledRange(database, p.projectId, ids, q);
      checkBucketCount(q.from ?? range?.lo ?? null, q.to ?? range?.hi ?? null);
    }
    const rolled = await rolledPoints(database, p.projectId, ids, q, BUCKETS[q.bucket]);
    if (mode === "histogram" || rolled.reduce((n, r) => n + Number(r.count), 0) > EXACT_PERCENTILES_UP_TO)
      rows = rolled;
  }

  const histogram = rows !== null;
  if (!rows) {
    const range = await rawRange(database, p.projectId, ids, q);
    checkBucketCount(q.from ?? range?.lo ?? null, q.to ?? range?.hi ?? null);
    rows = await rawPoints(database, p.projectId, ids, q, BUCKETS[q.bucket]);
  }
  const points = rows;
  const events = await labelEventsBetween(db, prompt.id, q.eventsLabel, q);
  return {
    prompt: name,
    bucket: q.bucket,
    versions: versions.map((v) => v.version),
    refs,
    percentiles: histogram ? PERCENTILES.histogram : PERCENTILES.exact,
    series: versions.map((v) => ({
      version: v.version,
      points: points
        .filter((r) => r.version_id === v.id)
        .map((r) => ({
          start: (r.bucket as Date).toISOString(),
          count: num(r.count)!,
          spans: num(r.spans)!,
          failures: num(r.failures)!,
          failureRate: num(r.count) ? num(r.failures)! / num(r.count)! : null,
          latencyP95Ms: num(r.latency_p95),
          costMeanUsd: num(r.cost_mean),
        })),
    })),
    events: events.map((e) => ({
      label: e.label,
      action: e.action,
      fromVersion: e.fromVersion,
      toVersion: e.toVersion,
      actor: e.actor,
      reason: e.reason,
      at: e.createdAt,
    })),
  };
}
