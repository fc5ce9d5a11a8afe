// A label's gate as the pages share it: the project's gates (Settings lists them, a move asks whether its label has
// one) and the verdict a move would get now, asked of the same rule the server enforces (GET /gates/:label/check).
import { useQuery } from "@tanstack/react-query";
import { GateListSchema, GateVerdictSchema, LABEL_NAME_PATTERN } from "@promptreg/client/contract";
import { api } from "../api";

export const gatePath = (label: string) => `/gates/${encodeURIComponent(label)}`;

export function useGates() {
  return useQuery({ queryKey: ["gates"], queryFn: () => api("/gates", GateListSchema) });
}

/**
 * What the label's gate says now of moving `prompt`'s `label` to `version`; asked only for a real move (a valid
 * label, a version chosen, not the one the label holds). A rollback never asks: it is never gated.
 */
export function useGateCheck(prompt: string, label: string, version: string, enabled: boolean) {
  return useQuery({
    queryKey: ["gate-check", label, prompt, version],
    queryFn: () => api(`${gatePath(label)}/check`, GateVerdictSchema, { query: { prompt, version } }),
    enabled: enabled && version !== "" && LABEL_NAME_PATTERN.test(label),
    retry: false,
  });
}
