// What a comparison and a time series are asked, and the thresholds both share.
import type { FailureDefinition } from "./failure.js";
import type { CompareFilters } from "./filters.js";
import { HISTOGRAM_RELATIVE_ERROR } from "./histogram.js";

export interface CompareQuery extends CompareFilters {
  versions?: string[];
  failure: FailureDefinition;
  unit: "span" | "trace";
  minSample: number;
  /**
   * auto: from span_rollups when they can give exact counts and more than EXACT_PERCENTILES_UP_TO spans are
   * compared, else exact; exact: always from the raw spans; histogram: from span_rollups whenever they can.
   */
  percentiles?: "auto" | "exact" | "histogram";
}

export interface TimeseriesQuery extends CompareFilters {
  versions?: string[];
  failure: FailureDefinition;
  bucket: "5m" | "1h" | "1d";
  /** The label whose moves are returned as events (default production). */
  eventsLabel: string;
  /** As for CompareQuery; 5m buckets always come from the raw spans (rollups are hourly). */
  percentiles?: "auto" | "exact" | "histogram";
}

/** Up to this many compared spans, percentile_cont over the raw spans is cheap enough to stay exact. */
export const EXACT_PERCENTILES_UP_TO = 50_000;
/** How an answer's percentiles were computed; every other figure is exact either way. */
export const PERCENTILES = {
  exact: "exact",
  histogram: `histogram (<=${(HISTOGRAM_RELATIVE_ERROR * 100).toFixed(3)}% relative error)`,
};

/**
 * Rollup rows can stand in for the raw spans: they count spans and status failures, by label, source and model (not
 * by session, user or rollout).
 */
export function rollupsCanAnswer(q: CompareFilters & { failure: FailureDefinition }): boolean {
  return q.failure.kind === "status" && !q.session && !q.user && !q.rollout && !q.arm;
}

/** The rows of one statement, as compare's figures read them. */
export type Rows = Record<string, unknown>[];

export const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
