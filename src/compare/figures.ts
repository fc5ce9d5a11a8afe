// One version's figures in a comparison, whichever table they come from (comparison-raw.ts reads the spans,
// comparison-rollup.ts span_rollups), and the token and cost figures both paths read the same way: each amount of
// traces/rollups.ts as <amount>_sum and <amount>_count.
import { decimalNumber, meanOf } from "./decimal.js";
import type { AmountName, MeasureColumn } from "../traces/rollups.js";

/** One version's figures, whichever table they come from. */
export interface Figures {
  /** Units the failure definition judges (all of them by status, the annotated ones by an annotation). */
  units: number;
  /** Every unit, judged or not: the denominator of an annotation's coverage. */
  allUnits: number;
  /** Units with no verdict because their evaluation ended in error (a judge that failed). */
  erroredUnits: number;
  spans: number;
  failures: number;
  pct: (number | null)[] | null;
  latencyMean: number | null;
  tokens: Record<TokenKind, TokenFigures>;
  cost: CostFigures;
  bySource: { source: string; units: number; failures: number }[];
}

/** Token kinds as compare reports them; cache tokens are parts of the prompt tokens, reasoning of the completion. */
const TOKEN_KINDS = ["prompt", "completion", "total", "cacheRead", "cacheWrite", "reasoning"] as const;
type TokenKind = (typeof TOKEN_KINDS)[number];
/** Sum and mean over the spans that reported the count (`count` of them): a span that did not (a streamed call) is unknown, not 0. */
interface TokenFigures {
  mean: number | null;
  sum: number;
  count: number;
}
/**
 * Cost over the spans that have one (`count`): `sent` by the span, or `computed` at ingest from the price table;
 * `unknown` spans have neither and are in no sum or mean.
 */
export interface CostFigures {
  mean: number | null;
  sum: number;
  count: number;
  sent: { sum: number; count: number };
  computed: { sum: number; count: number };
  unknown: number;
}

// The amount (rollups.ts) behind each token kind: both paths name their columns <amount>_sum and <amount>_count.
const TOKEN_AMOUNTS: Record<TokenKind, AmountName> = {
  prompt: "tokens_prompt",
  completion: "tokens_completion",
  total: "tokens_total",
  cacheRead: "cache_read",
  cacheWrite: "cache_write",
  reasoning: "reasoning",
};

/**
 * Token and cost figures from a row (or the sum of rows) holding <kind>_sum, <kind>_count and the cost columns. Costs
 * come as exact decimals (`cost`, see decimal.ts), so that adding rows adds no floating-point error.
 */
export function amounts(
  get: (column: MeasureColumn) => number,
  cost: (column: MeasureColumn) => bigint,
  spans: number,
): Pick<Figures, "tokens" | "cost"> {
  const mean = (sum: number, count: number) => (count ? sum / count : null);
  const tokens = Object.fromEntries(
    TOKEN_KINDS.map((kind) => {
      const sum = get(`${TOKEN_AMOUNTS[kind]}_sum`);
      const count = get(`${TOKEN_AMOUNTS[kind]}_count`);
      return [kind, { mean: mean(sum, count), sum, count }];
    }),
  ) as Record<TokenKind, TokenFigures>;
  const costCount = get("cost_count");
  const costMean = meanOf(cost("cost_sum"), costCount);
  return {
    tokens,
    cost: {
      mean: costMean === null ? null : decimalNumber(costMean),
      sum: decimalNumber(cost("cost_sum")),
      count: costCount,
      sent: { sum: decimalNumber(cost("cost_sent_sum")), count: get("cost_sent_count") },
      computed: { sum: decimalNumber(cost("cost_computed_sum")), count: get("cost_computed_count") },
      unknown: spans - costCount,
    },
  };
}
