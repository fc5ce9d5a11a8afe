// Compares trace outcomes of prompt versions: a comparison (comparison.ts) and a time series (timeseries.ts), each
// answered from span_rollups when they can give the figures exactly and the comparison is large (comparison-rollup.ts,
// timeseries-rollup.ts), else from the raw spans (comparison-raw.ts, timeseries-raw.ts). Reads spans, span_rollups
// and annotations (the label ledger through the labels module); writes nothing.
import type { Principal } from "../auth/principal.js";
import type { Database, Db } from "../db/client.js";
import type { PromptsService } from "../prompts/prompts.service.js";
import { compareVersions } from "./comparison.js";
import type { CompareQuery, TimeseriesQuery } from "./queries.js";
import { versionTimeseries } from "./timeseries.js";

export type { FailureDefinition } from "./failure.js";
export type { CompareFilters } from "./filters.js";
export { EXACT_PERCENTILES_UP_TO, type CompareQuery, type TimeseriesQuery } from "./queries.js";

export interface CompareServiceDeps {
  db: Db;
  database: Database;
  prompts: Pick<PromptsService, "resolve">;
}

export type CompareService = ReturnType<typeof createCompareService>;

export function createCompareService(deps: CompareServiceDeps) {
  return {
    compare: (p: Principal, name: string, q: CompareQuery) => compareVersions(deps, p, name, q),
    timeseries: (p: Principal, name: string, q: TimeseriesQuery) => versionTimeseries(deps, p, name, q),
  };
}
