// The evaluators list as the pages share it (one cache entry): the evaluators page polls it, compare's failure
// selector reads it once. Kept apart from the evaluators page so that compare does not load that page's code.
import { useQuery } from "@tanstack/react-query";
import { EvaluatorListSchema } from "@promptreg/client/contract";
import { api } from "../api";

const LIST_POLL_MS = 5_000;
const PENDING_POLL_MS = 1_000;

/**
 * `poll`: asked again every 5 s, every second while spans wait to be evaluated, so that results show up as they are
 * stored without a reload.
 */
export function useEvaluators(options: { poll?: boolean } = {}) {
  return useQuery({
    queryKey: ["evaluators"],
    queryFn: () => api("/evaluators", EvaluatorListSchema),
    refetchInterval: options.poll
      ? (q) => (q.state.data?.data.some((e) => e.results.pending > 0) ? PENDING_POLL_MS : LIST_POLL_MS)
      : false,
  });
}

export const pollInterval = (pending: number) => (pending > 0 ? PENDING_POLL_MS : LIST_POLL_MS);
