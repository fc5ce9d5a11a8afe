// What the experiment pages share: their addresses, one experiment's query (asked again every second while it
// runs, so its progress fills in without a reload, and never again once it has finished) and its status badge.
import { useQuery } from "@tanstack/react-query";
import { ExperimentSchema, type Experiment } from "@promptreg/client/contract";
import { api } from "../api";
import { Badge } from "../components/ui";

/** How often a running experiment's progress is asked again. */
export const RUNNING_POLL_MS = 1_000;

export const experimentHref = (id: string, page?: "compare", query?: Record<string, string>) =>
  `/experiments/${encodeURIComponent(id)}${page ? `/${page}` : ""}${query ? `?${new URLSearchParams(query)}` : ""}`;
export const experimentPath = (id: string) => `/experiments/${encodeURIComponent(id)}`;

export function useExperiment(id: string) {
  return useQuery({
    queryKey: ["experiment", id],
    queryFn: () => api(experimentPath(id), ExperimentSchema),
    refetchInterval: (q) => (q.state.data?.status === "running" ? RUNNING_POLL_MS : false),
  });
}

export function ExperimentStatus({ experiment: e }: { experiment: Experiment }) {
  if (e.status === "finished") return <Badge tone="ok">finished</Badge>;
  if (e.status === "cancelled") return <Badge tone="warn">cancelled</Badge>;
  return <Badge tone="accent">running</Badge>;
}
