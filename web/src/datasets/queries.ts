// The datasets list as the pages share it (one cache entry): the datasets page, the traces page's "Add to dataset"
// dialog and the experiment form all read it. Kept apart from the datasets page so that those do not load its code.
import { useQuery } from "@tanstack/react-query";
import { DatasetListSchema } from "@promptreg/client/contract";
import { api } from "../api";

export const datasetPath = (name: string) => `/datasets/${encodeURIComponent(name)}`;
export const datasetHref = (name: string, query?: Record<string, string>) =>
  `/datasets/${encodeURIComponent(name)}${query ? `?${new URLSearchParams(query)}` : ""}`;

export function useDatasets(options: { enabled?: boolean } = {}) {
  return useQuery({
    queryKey: ["datasets"],
    queryFn: () => api("/datasets", DatasetListSchema),
    enabled: options.enabled ?? true,
  });
}
